"""The job's own costs kept small: summaries folded several batches at a time, Parquet row
groups written by a background thread while the shard fills."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import torch

import insight_widget.datasets.store as store_module
import insight_widget.datasets.summary as summary_module
from insight_widget.attr import IntegratedGradients, Saliency
from insight_widget.datasets import AttributionStore, DatasetSummary, attribute_dataset

from .conftest import loader


def _direct(values: torch.Tensor):
    values = values.double()
    return {"mean": values.mean(0), "variance": values.var(0, unbiased=False),
            "min": values.amin(0), "max": values.amax(0), "abs_mean": values.abs().mean(0),
            "abs_variance": values.abs().var(0, unbiased=False),
            "abs_min": values.abs().amin(0), "abs_max": values.abs().amax(0)}


@pytest.mark.parametrize("signed", [True, False])
def test_folded_summaries_equal_a_direct_computation(monkeypatch, signed):
    """Batches of 7 folded 16+ rows at a time (several folds, a partial one read at the
    end); maps with negative values (|a| summarised apart) and without (|a| = a shared)."""
    monkeypatch.setattr(summary_module, "FOLD_ROWS", 16)
    g = torch.Generator().manual_seed(5)
    maps = torch.randn(61, 2, 5, generator=g)
    maps = maps if signed else maps.abs()
    classes = torch.randint(3, (61,), generator=g)
    summary = DatasetSummary()
    for start in range(0, 61, 7):
        summary.update((maps[start:start + 7],), classes[start:start + 7])
        assert summary.count == min(start + 7, 61)  # pending examples count at once
    # float64 sums of float32 data: differences are float64 rounding (~1e-16 x n)
    for key, value in _direct(maps).items():
        torch.testing.assert_close(summary.overall.as_dict()[key], value, rtol=1e-10,
                                   atol=1e-12)
    for label, part in summary.per_class.items():
        for key, value in _direct(maps[classes == label]).items():
            torch.testing.assert_close(part.as_dict()[key], value, rtol=1e-10, atol=1e-12)
    again = DatasetSummary.from_bytes(summary.to_bytes())
    torch.testing.assert_close(again.overall.as_dict()["abs_mean"], _direct(maps)["abs_mean"],
                               rtol=1e-10, atol=1e-12)


def test_a_batch_of_another_shape_is_refused_by_the_summary():
    summary = DatasetSummary()
    summary.update((torch.ones(3, 4),))
    summary.update((torch.ones(2, 5),))
    with pytest.raises(ValueError, match=r"shape \(5,\).*shape \(4,\)"):
        _ = summary.overall


def test_row_groups_are_written_while_the_shard_fills(model, images, tmp_path, monkeypatch):
    """One shard made of row groups of ~2 batches; the same rows as one write would give."""
    monkeypatch.setattr(store_module, "ROW_GROUP_BYTES", 2 * 8 * 3 * 6 * 6 * 4)
    x, y = images
    store = attribute_dataset(IntegratedGradients(model), loader(x, y), output=tmp_path / "s",
                              n_steps=4, progress=False, target="label")
    assert len(store.manifest["shards"]) == 1
    shard = pq.ParquetFile(tmp_path / "s" / store.manifest["shards"][0]["file"])
    assert shard.metadata.num_row_groups == 4  # 16 + 16 + 16 + 2 examples
    assert store.manifest["shards"][0] == {"file": "shards/part-00000.parquet", "rows": 50,
                                           "first_id": 0, "last_id": 49}
    expected = torch.cat([IntegratedGradients(model).attribute(x[i:i + 8], target=y[i:i + 8],
                                                               n_steps=4)
                          for i in range(0, 50, 8)])
    assert torch.equal(store.attributions(range(50))[0], expected)


def test_an_interrupted_job_drops_its_open_shard_and_resumes(model, images, tmp_path,
                                                              monkeypatch):
    """Stopped mid-shard (here by KeyboardInterrupt from the data): committed shards stay,
    the open shard's file is deleted, and a resumed job stores every example once."""
    monkeypatch.setattr(store_module, "ROW_GROUP_BYTES", 8 * 3 * 6 * 6 * 4)
    x, y = images

    def interrupted():
        for start in range(0, 40, 8):
            yield x[start:start + 8], y[start:start + 8]
        raise KeyboardInterrupt

    shard = 3 * 8 * 3 * 6 * 6 * 4  # three batches per shard
    with pytest.raises(KeyboardInterrupt):
        attribute_dataset(Saliency(model), interrupted(), output=tmp_path / "s",
                          shard_bytes=shard, progress=False)
    partial = AttributionStore(tmp_path / "s")
    assert partial.examples(columns=["id"]).column("id").to_pylist() == list(range(24))
    assert sorted(p.name for p in (tmp_path / "s" / "shards").iterdir()) == ["part-00000.parquet"]
    done = attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "s",
                             shard_bytes=shard, resume=True, progress=False)
    assert sorted(done.examples(columns=["id"]).column("id").to_pylist()) == list(range(50))
