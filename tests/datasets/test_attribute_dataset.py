"""attribute_dataset in one process: what the store holds, summaries, resuming, bad input."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch
from captum.attr import ClassSummarizer as CaptumClassSummarizer
from captum.attr import CommonStats as CaptumCommonStats

from insight_widget import Batch
from insight_widget.attr import (
    IntegratedGradients,
    LayerGradCam,
    NeuronGradient,
    NoiseTunnel,
    Saliency,
)
from insight_widget.datasets import AttributionStore, DatasetSummary, attribute_dataset

from .conftest import CLASSES, loader

SMALL_SHARDS = 8 * 3 * 6 * 6 * 4 * 2  # two batches of 8 examples per shard


def _hand_loop(model, images, labels, n_steps=4):
    ig = IntegratedGradients(model)
    with torch.no_grad():
        predictions = model(images).argmax(1)
    attributions, deltas = ig.attribute(images, target=predictions, n_steps=n_steps,
                                        return_convergence_delta=True)
    return predictions, attributions, deltas


def test_store_holds_what_a_hand_written_loop_computes(model, images, tmp_path):
    x, y = images
    store = attribute_dataset(IntegratedGradients(model), loader(x, y), output=tmp_path / "s",
                              n_steps=4, classes=CLASSES, progress=False,
                              shard_bytes=SMALL_SHARDS)
    predictions, attributions, deltas = _hand_loop(model, x, y)
    assert len(store) == 50 and store.complete and len(store.manifest["shards"]) == 4
    table = store.examples()
    assert table.column("id").to_pylist() == list(range(50))
    assert table.column("label").to_pylist() == y.tolist()
    assert table.column("prediction").to_pylist() == predictions.tolist()
    assert table.column("target").to_pylist() == predictions.tolist()
    scores = torch.softmax(model(x), 1).max(1).values
    torch.testing.assert_close(torch.tensor(table.column("score").to_numpy()), scores.detach())
    # batches of 8 vs one batch of 50: IG's rows are independent, float32 rounding only
    stored = store.attributions(range(50))[0]
    torch.testing.assert_close(stored, attributions, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.tensor(table.column("delta").to_numpy()), deltas,
                               rtol=1e-4, atol=1e-5)
    picked = store.attributions([33, 2])[0]
    torch.testing.assert_close(picked, attributions[[33, 2]], rtol=1e-5, atol=1e-6)


def test_float16_storage_rounds_the_maps_but_not_the_summary(model, images, tmp_path):
    x, y = images
    full = attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "a", progress=False)
    half = attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "b", float16=True,
                             progress=False)
    a, b = full.attributions(range(50))[0], half.attributions(range(50))[0]
    # float16 has an 11-bit significand: relative rounding error <= 2**-11
    assert torch.all((a - b).abs() <= a.abs() * 2.0 ** -11 + 6e-8)
    torch.testing.assert_close(half.summary.overall.signed.mean, full.summary.overall.signed.mean,
                               rtol=0, atol=0)


def _saliency(model, x, y, batch_size=8):
    """Saliency batch by batch as the job computes it (batching changes float32 rounding)."""
    return torch.cat([Saliency(model).attribute(x[i:i + batch_size], target=y[i:i + batch_size])
                      for i in range(0, x.shape[0], batch_size)])


def _direct_summary(values: torch.Tensor):
    values = values.double()
    return {"mean": values.mean(0), "sample_variance": values.var(0, unbiased=True),
            "variance": values.var(0, unbiased=False), "min": values.amin(0),
            "max": values.amax(0), "abs_mean": values.abs().mean(0)}


@pytest.mark.parametrize("batch_size", [7, 50])
def test_summaries_equal_a_direct_computation_whatever_the_batching(model, images, batch_size):
    x, y = images
    summary = attribute_dataset(Saliency(model), loader(x, y, batch_size), target="label",
                                progress=False)
    attributions = _saliency(model, x, y, batch_size)
    overall = summary.overall.as_dict()
    # float64 accumulation of float32 data: differences are float64 rounding (~1e-16 x n)
    for key, value in _direct_summary(attributions).items():
        torch.testing.assert_close(overall[key], value, rtol=1e-10, atol=1e-12)
    assert set(summary.per_class) == set(y.tolist())
    for label, part in summary.per_class.items():
        direct = _direct_summary(attributions[y == label])
        torch.testing.assert_close(part.as_dict()["mean"], direct["mean"], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(part.as_dict()["abs_mean"], direct["abs_mean"], rtol=1e-10,
                                   atol=1e-12)
        assert part.count == int((y == label).sum())


def test_summaries_agree_with_captums_class_summarizer(model, images):
    x, y = images
    summary = attribute_dataset(Saliency(model), loader(x, y), target="label", progress=False)
    oracle = CaptumClassSummarizer(CaptumCommonStats())
    attributions = _saliency(model, x, y)
    for start in range(0, 50, 8):
        oracle.update(attributions[start:start + 8], y[start:start + 8].tolist())
    ours = summary.overall.as_dict()

    def single(value):  # captum reports a one-element list for a single input
        return value[0] if isinstance(value, list) else value

    # captum accumulates in float32: its rounding (~1e-7 relative x n) bounds the difference
    for key in ("mean", "sample_variance", "min", "max"):
        torch.testing.assert_close(ours[key].float(), single(oracle.summary)[key].float(),
                                   rtol=1e-4, atol=1e-6)
    assert set(oracle.class_summaries) == set(summary.per_class)
    for label, theirs in oracle.class_summaries.items():
        torch.testing.assert_close(summary.per_class[label].as_dict()["mean"].float(),
                                   single(theirs)["mean"].float(), rtol=1e-4, atol=1e-6)


def test_merging_summaries_of_two_halves_equals_the_whole(model, images):
    x, y = images
    whole = attribute_dataset(Saliency(model), loader(x, y), progress=False)
    first = attribute_dataset(Saliency(model), loader(x[:19], y[:19]), progress=False)
    second = attribute_dataset(Saliency(model), loader(x[19:], y[19:]), progress=False)
    merged = first.merge(second)
    for key, value in whole.overall.as_dict().items():
        if key != "count":
            torch.testing.assert_close(merged.overall.as_dict()[key], value, rtol=1e-10,
                                       atol=1e-12)
    assert merged.count == 50
    restored = DatasetSummary.from_bytes(merged.to_bytes())
    torch.testing.assert_close(restored.per_class[1].signed.m2, merged.per_class[1].signed.m2,
                               rtol=0, atol=0)


def test_layer_neuron_and_noise_tunnel_methods(model, images, tmp_path):
    x, y = images
    cam = attribute_dataset(LayerGradCam(model, model.conv), loader(x, y), progress=False,
                            output=tmp_path / "cam")
    assert cam.manifest["attribution_shapes"] == [[1, 6, 6]]
    neuron = attribute_dataset(NeuronGradient(model, model.fc), loader(x, y), progress=False,
                               neuron_selector=1, summary_by="label")
    torch.testing.assert_close(
        neuron.overall.signed.mean.float(),
        NeuronGradient(model, model.fc).attribute(x, neuron_selector=1).mean(0),
        rtol=1e-5, atol=1e-7)
    tunnel = attribute_dataset(NoiseTunnel(IntegratedGradients(model)), loader(x, y),
                               output=tmp_path / "nt", progress=False, nt_samples=2, n_steps=3,
                               stdevs=0.1)
    assert tunnel.method == "NoiseTunnel(IntegratedGradients)"
    assert tunnel.examples().column("delta").null_count == 0


def test_batches_dicts_and_several_inputs(model, images):
    x, y = images

    def two_inputs(a, b):
        return model(a + b)

    batches = [Batch((x[i:i + 10], x[i:i + 10] * 0), y[i:i + 10]) for i in range(0, 50, 10)]
    summary = attribute_dataset(Saliency(two_inputs), batches, progress=False)
    assert summary.is_tuple and len(summary.overall) == 2 and summary.count == 50
    dicts = [{"inputs": x[i:i + 25], "labels": y[i:i + 25]} for i in (0, 25)]
    split = attribute_dataset(Saliency(model), dicts, batch_size=10, target="label",
                              progress=False)
    assert split.count == 50


def _ids(store: AttributionStore):
    return store.examples(columns=["id"]).column("id").to_pylist()


def test_resume_after_a_crash_stores_every_example_exactly_once(model, images, tmp_path):
    x, y = images
    x = x.clone()
    x[37, 0, 0, 0] = 123.0  # batch 4 (examples 32-39) makes the model raise
    model.fail_on = 123.0
    path = tmp_path / "s"
    with pytest.raises(RuntimeError, match=r"batch 4 \(examples 32-39\).*resume=True"):
        attribute_dataset(IntegratedGradients(model), loader(x, y), output=path, n_steps=4,
                          shard_bytes=SMALL_SHARDS, progress=False)
    partial = AttributionStore(path)
    assert not partial.complete and _ids(partial) == list(range(32))
    # a crash between writing a shard and committing the manifest leaves an orphan file
    (path / "shards" / "part-00009.parquet").write_bytes(b"half-written")
    with pytest.raises(ValueError, match=r"not empty.*resume=True"):
        attribute_dataset(IntegratedGradients(model), loader(x, y), output=path, n_steps=4,
                          progress=False)
    model.fail_on = None
    store = attribute_dataset(IntegratedGradients(model), loader(x, y), output=path, n_steps=4,
                              resume=True, shard_bytes=SMALL_SHARDS, progress=False)
    assert store.complete and sorted(_ids(store)) == list(range(50))
    assert not (path / "shards" / "part-00009.parquet").exists()
    fresh = attribute_dataset(IntegratedGradients(model), loader(x, y), output=tmp_path / "f",
                              n_steps=4, progress=False)
    for key, value in fresh.summary.overall.as_dict().items():
        if key != "count":
            torch.testing.assert_close(store.summary.overall.as_dict()[key], value,
                                       rtol=1e-10, atol=1e-12)
    again = attribute_dataset(IntegratedGradients(model), loader(x, y), output=path, n_steps=4,
                              resume=True, progress=False)
    assert len(again) == 50  # a finished store is returned as it is


def test_a_batch_changing_shape_is_named_and_finished_shards_are_kept(model, images, tmp_path):
    x, y = images
    batches = [(x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8)]
    batches.append((torch.randn(8, 3, 7, 7), y[:8]))
    with pytest.raises(ValueError, match=r"batch 4 \(examples 32-39\).*\(3, 7, 7\).*\(3, 6, 6\)"):
        attribute_dataset(Saliency(model), batches, output=tmp_path / "s", progress=False,
                          shard_bytes=SMALL_SHARDS, on_error="skip")
    assert _ids(AttributionStore(tmp_path / "s")) == list(range(32))


def test_on_error_skip_lists_the_skipped_examples(model, images, tmp_path):
    x, y = images
    x = x.clone()
    x[10, 0, 0, 0] = 99.0
    model.fail_on = 99.0
    with pytest.warns(RuntimeWarning, match="skipped batch 1"):
        store = attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "s",
                                  on_error="skip", progress=False)
    assert store.skipped == list(range(8, 16))
    assert _ids(store) == [i for i in range(50) if not 8 <= i < 16]
    with pytest.warns(RuntimeWarning):
        summary = attribute_dataset(Saliency(model), loader(x, y), on_error="skip",
                                    progress=False)
    assert summary.skipped == list(range(8, 16)) and summary.count == 42


def test_outputs_that_cannot_be_used(model, images, tmp_path):
    x, y = images
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"`output`.*not empty"):
        attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "busy",
                          progress=False)
    with pytest.raises(ValueError, match="not an attribution store"):
        attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "busy",
                          overwrite=True, progress=False)
    with pytest.raises(ValueError, match="not an attribution store"):
        attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "busy",
                          resume=True, progress=False)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"`output`.*not a writable directory"):
        attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "file" / "s",
                          progress=False)
    first = attribute_dataset(Saliency(model), loader(x[:8], y[:8]), output=tmp_path / "s",
                              progress=False)
    assert len(first) == 8
    replaced = attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "s",
                                 overwrite=True, progress=False)
    assert len(replaced) == 50


def test_a_store_opened_with_another_model_or_class_list_is_refused(model, images, tmp_path):
    x, y = images
    path = tmp_path / "s"
    attribute_dataset(Saliency(model), loader(x, y), output=path, classes=CLASSES,
                      progress=False)
    AttributionStore(path, model=model, classes=CLASSES)  # the same: fine
    other = type(model)().eval()
    with pytest.raises(ValueError, match="different model"):
        AttributionStore(path, model=other)
    with pytest.raises(ValueError, match="different classes"):
        AttributionStore(path, classes=["x", "y", "z"])
    with pytest.raises(ValueError, match="different model"):
        attribute_dataset(Saliency(other), loader(x, y), output=path, classes=CLASSES,
                          resume=True, progress=False)
    with pytest.raises(ValueError, match="different float16"):
        attribute_dataset(Saliency(model), loader(x, y), output=path, classes=CLASSES,
                          resume=True, progress=False, float16=True)
    with pytest.raises(ValueError, match="different attribute args"):
        attribute_dataset(Saliency(model), loader(x, y), output=path, classes=CLASSES,
                          resume=True, progress=False, abs=False)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["classes"] == CLASSES


def test_bad_arguments_are_named(model, images):
    x, y = images
    for kwargs, pattern in [({"engine": "spark"}, "engine"), ({"on_error": "ignore"}, "on_error"),
                            ({"batch_size": 0}, "batch_size"), ({"target": "best"}, "target"),
                            ({"summary_by": "colour"}, "summary_by"),
                            ({"resume": True, "overwrite": True}, "resume")]:
        with pytest.raises(ValueError, match=pattern):
            attribute_dataset(Saliency(model), loader(x, y), progress=False, **kwargs)
    with pytest.raises(ValueError, match="`target` must be None for NeuronGradient"):
        attribute_dataset(NeuronGradient(model, model.fc), loader(x, y), target=1,
                          neuron_selector=0, progress=False)
    with pytest.raises(TypeError, match="`data`"):
        attribute_dataset(Saliency(model), 42, progress=False)
    with pytest.raises(TypeError, match="batch 0"):
        attribute_dataset(Saliency(model), [(x, y, y)], progress=False)


def test_without_pyarrow_only_the_store_needs_the_scale_extra(model, images, monkeypatch,
                                                              tmp_path):
    x, y = images
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    summary = attribute_dataset(Saliency(model), loader(x, y), progress=False)
    assert summary.count == 50
    with pytest.raises(ImportError, match=r"insight-widget\[scale\]"):
        attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "s", progress=False)
    assert not os.path.exists(tmp_path / "s")


def test_per_class_summaries_beyond_the_memory_budget_are_refused(model, images):
    from insight_widget.attr import memory_budget

    x, y = images
    with memory_budget(3 * 6 * 6 * 80 * 2), pytest.raises(ValueError, match="summary_by=None"):
        attribute_dataset(Saliency(model), loader(x, y), target="label", progress=False)
    with memory_budget(3 * 6 * 6 * 80 * 2):
        assert attribute_dataset(Saliency(model), loader(x, y), summary_by=None,
                                 progress=False).per_class == {}


def test_grouped_moments_equal_the_moments_of_each_group():
    from insight_widget.datasets.summary import Moments

    g = torch.Generator().manual_seed(3)
    samples = torch.randn(13, 2, 3, generator=g) * 1e3 + 5.0  # offset: a cancellation test
    groups = torch.tensor([2, 0, 0, 1, 2, 2, 0, 1, 3, 0, 2, 1, 0])  # group 3 has one row
    for k, moments in enumerate(Moments.grouped(samples, groups, 4)):
        direct = Moments.of(samples[groups == k])
        assert moments.count == direct.count
        for name in ("mean", "m2", "minimum", "maximum"):
            # both are two-pass float64 computations: equal up to float64 rounding
            torch.testing.assert_close(getattr(moments, name), getattr(direct, name),
                                       rtol=1e-12, atol=1e-9)
