"""The Ray engine's worker and driver-side delivery, run in this process (no cluster): what the
actors compute and what the driver stores, including a batch delivered twice."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from insight_widget.attr import IntegratedGradients
from insight_widget.datasets.compute import BatchAttributor
from insight_widget.datasets.ray_engine import SOURCE, AttributionWorker, deliver
from insight_widget.datasets.sources import ShapeChangeError, ShapeCheck, iterate_batches

from .conftest import loader


def _settings():
    return dict(target="prediction", attribute_args={"n_steps": 4}, predictions=True,
                score_func=None, convergence_delta=True)


def test_worker_replies_equal_the_single_process_results(model, images):
    x, y = images
    batches = list(iterate_batches(loader(x, y), None))
    worker = AttributionWorker(IntegratedGradients(model), _settings(),
                               done=np.array([0, 1, 2], dtype=np.int64), threads=1,
                               use_gpu=False)
    rows = {SOURCE: np.array([pickle.dumps(b) for b in batches[:2]], dtype=object)}
    replies = worker(rows)["result"]
    seen: set = set()
    delivered = [deliver(blob, seen) for blob in replies]
    local = BatchAttributor(IntegratedGradients(model), **_settings())
    for (_where, ids, result, error), batch in zip(delivered, batches[:2]):
        assert error is None
        expected = local(batch)
        keep = ~torch.isin(expected.ids, torch.tensor([0, 1, 2]))
        assert result.ids.tolist() == expected.ids[keep].tolist() == ids.tolist()
        torch.testing.assert_close(result.attributions[0], expected.attributions[0][keep])
    # the same reply again (a retried batch): nothing new is delivered
    assert all(deliver(blob, seen) is None for blob in replies)


def test_worker_reads_a_ray_dataset_batch_of_examples_and_reports_errors(model, images):
    x, y = images
    model.fail_on = 5.0
    x = x.clone()
    x[12, 0, 0, 0] = 5.0
    worker = AttributionWorker(IntegratedGradients(model), _settings(),
                               done=np.zeros(0, dtype=np.int64), threads=1, use_gpu=False)
    good = worker({"id": np.arange(10, 12), "inputs": x[10:12].numpy(),
                   "label": y[10:12].numpy()})["result"]
    bad = worker({"id": np.arange(12, 14), "inputs": x[12:14].numpy()})["result"]
    seen: set = set()
    where, ids, result, error = deliver(good[0], seen)
    assert ids.tolist() == [10, 11] and result.labels.tolist() == y[10:12].tolist()
    where, ids, result, error = deliver(bad[0], seen)
    assert result is None and isinstance(error, RuntimeError) and ids.tolist() == [12, 13]
    assert "examples 12-13" in where


def test_a_partly_delivered_batch_keeps_only_the_new_examples(model, images):
    x, y = images
    batch = next(iterate_batches(loader(x, y), None))
    worker = AttributionWorker(IntegratedGradients(model), _settings(),
                               done=np.zeros(0, dtype=np.int64), threads=1, use_gpu=False)
    blob = worker({SOURCE: np.array([pickle.dumps(batch)], dtype=object)})["result"][0]
    seen = {0, 1, 2}
    _where, ids, result, _error = deliver(blob, seen)
    assert ids.tolist() == result.ids.tolist() == list(range(3, 8))
    with pytest.raises(ValueError, match="'id' column"):
        from insight_widget.datasets.ray_engine import _check_columns

        _check_columns(["inputs"])


class _InProcessRay:
    """Just enough of ``ray`` / ``ray.data`` to run ``attribute_dataset(engine="ray")`` in
    this process: one actor (the real AttributionWorker), blocks mapped in order."""

    class data:
        @staticmethod
        def from_items(rows, override_num_blocks=None):
            return _InProcessDataset([{k: np.array([v], dtype=object) for k, v in r.items()}
                                      for r in rows])

    @staticmethod
    def is_initialized():
        return True


class _InProcessDataset:
    def __init__(self, blocks):
        self.blocks = blocks

    def map_batches(self, actor, fn_constructor_kwargs, **_options):
        worker = actor(**fn_constructor_kwargs)
        return _InProcessDataset([worker(block) for block in self.blocks])

    def iter_batches(self, **_options):
        return iter(self.blocks)


def test_ray_path_names_a_batch_changing_shape_and_keeps_finished_shards(model, images,
                                                                          tmp_path,
                                                                          monkeypatch):
    from insight_widget.attr import Saliency
    from insight_widget.datasets import AttributionStore, attribute_dataset, ray_engine

    monkeypatch.setattr(ray_engine, "require_ray", lambda: _InProcessRay)
    x, y = images
    batches = [(x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8)]
    batches.insert(2, (torch.randn(8, 3, 7, 7), y[:8]))
    with pytest.raises(ValueError, match=r"batch 2 \(examples 16-23\).*\(3, 7, 7\).*"
                                         r"\(3, 6, 6\).*finished shards are kept"):
        attribute_dataset(Saliency(model), batches, output=tmp_path / "s", engine="ray",
                          progress=False, shard_bytes=8 * 3 * 6 * 6 * 4, on_error="skip")
    store = AttributionStore(tmp_path / "s")
    assert sorted(store.examples(columns=["id"]).column("id").to_pylist()) == list(range(16))
    assert not store.complete


def test_the_ray_driver_checks_the_shapes_of_a_ray_datasets_batches(model, images):
    x, _y = images
    worker = AttributionWorker(IntegratedGradients(model), _settings(),
                               done=np.zeros(0, dtype=np.int64), threads=1, use_gpu=False)
    first = worker({"id": np.arange(0, 4), "inputs": x[:4].numpy()})["result"][0]
    other = worker({"id": np.arange(4, 8),
                    "inputs": torch.randn(4, 3, 5, 5).numpy()})["result"][0]
    seen: set = set()
    check = ShapeCheck()
    assert deliver(first, seen, check)[3] is None
    where, _ids, result, error = deliver(other, seen, check)
    assert result is None and isinstance(error, ShapeChangeError)
    assert "examples 4-7" in where and "(3, 5, 5)" in str(error) and "(3, 6, 6)" in str(error)
