"""engine='ray' on a local Ray cluster of 2 worker processes: the same store as one process,
and a worker killed mid-job still leaves every example stored exactly once.

Few tests, one cluster for the module (Ray's start-up dominates their time).
"""

from __future__ import annotations

import os

import pytest
import torch

from insight_widget.attr import IntegratedGradients, Saliency
from insight_widget.datasets import attribute_dataset

from .conftest import TinyCNN, loader

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    os.environ.setdefault("RAY_agent_register_timeout_ms", "120000")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # the test models are pickled by value so the workers need not import the tests package
    from ray import cloudpickle

    from . import conftest

    cloudpickle.register_pickle_by_value(conftest)
    yield
    ray.shutdown()


class DiesOnce(TinyCNN):
    """Kills its worker process (os._exit) the first time it sees example 21's batch: the file
    ``marker`` records that it happened, so the retried batch succeeds."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] and (x[:, 0, 0, 0] == 21.0).any():
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                os._exit(1)
        return super().forward(x)


def _sorted_rows(store):
    table = store.examples()
    order = torch.tensor(table.column("id").to_numpy()).argsort()
    attributions = store.attributions(table.column("id").to_pylist())[0]
    return {name: torch.tensor(table.column(name).to_numpy())[order]
            for name in ("id", "prediction", "delta")}, attributions[order]


def test_ray_writes_the_store_of_the_single_process_run(cluster, model, images, tmp_path):
    x, y = images
    local = attribute_dataset(IntegratedGradients(model), loader(x, y), output=tmp_path / "l",
                              n_steps=4, progress=False)
    distributed = attribute_dataset(IntegratedGradients(model), loader(x, y),
                                    output=tmp_path / "r", n_steps=4, progress=False,
                                    engine="ray", num_workers=2)
    ours, ours_maps = _sorted_rows(distributed)
    theirs, theirs_maps = _sorted_rows(local)
    assert ours["id"].tolist() == list(range(50))
    assert torch.equal(ours["prediction"], theirs["prediction"])
    # same batches, same model: the workers compute the same float32 numbers
    torch.testing.assert_close(ours_maps, theirs_maps, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ours["delta"], theirs["delta"], rtol=1e-5, atol=1e-6)
    for key, value in local.summary.overall.as_dict().items():
        if key != "count":
            # summaries merge the same values in another order: float64 rounding only
            torch.testing.assert_close(distributed.summary.overall.as_dict()[key], value,
                                       rtol=1e-9, atol=1e-12)


def test_a_worker_killed_mid_job_still_stores_every_example_once(cluster, images, tmp_path):
    x, y = images
    x = x.clone()
    x[21, 0, 0, 0] = 21.0
    torch.manual_seed(1)
    model = DiesOnce(str(tmp_path / "died")).eval()
    store = attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "s",
                              progress=False, engine="ray", num_workers=2, target="label")
    assert (tmp_path / "died").exists()  # a worker really died
    ids = store.examples(columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == list(range(50))
    expected = Saliency(model).attribute(x, target=y)
    order = torch.tensor(ids).argsort()
    torch.testing.assert_close(store.attributions(ids)[0][order], expected, rtol=1e-5,
                               atol=1e-7)


def test_a_ray_dataset_of_examples_with_ids(cluster, model, images, tmp_path):
    x, y = images
    rows = [{"id": i, "inputs": x[i].numpy(), "label": int(y[i])} for i in range(50)]
    dataset = ray.data.from_items(rows)
    store = attribute_dataset(Saliency(model), dataset, output=tmp_path / "s", engine="ray",
                              batch_size=10, target="label", progress=False)
    assert sorted(store.examples(columns=["id"]).column("id").to_pylist()) == list(range(50))
    expected = Saliency(model).attribute(x, target=y)
    torch.testing.assert_close(store.attributions(range(50))[0], expected, rtol=1e-5,
                               atol=1e-7)
    with pytest.raises(ValueError, match="'id' column"):
        attribute_dataset(Saliency(model), ray.data.from_items([{"inputs": x[0].numpy()}]),
                          engine="ray", progress=False)
