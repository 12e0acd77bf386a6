"""Dataset family: ``attribute_dataset`` against a hand-written loop calling the method batch by
batch (the "captum" column of this family is that loop, with our engine), memory over 10,000
examples, and the Ray engine's overhead per batch and throughput per worker.

The hand-written loop produces what the job's store holds that a user would want: the
attributions of each batch (with the convergence delta where the method has one) and, when the
job stores them, the predictions and their softmax scores (a forward pass, as a user's loop
needs one: ``attribute`` does not return the model's output), all kept in memory. The job
also writes Parquet and per-class summaries; the target is within 1.1x. It makes no forward
pass of its own where the method evaluates the batch itself (datasets/outputs.py): the
Saliency cases show that, and the ``predictions=False`` case the job's remaining cost.
"""

from __future__ import annotations

import atexit
import itertools
import json
import shutil
import tempfile
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

from insight_widget.attr import IntegratedGradients, Saliency
from insight_widget.datasets import AttributionStore, attribute_dataset
from insight_widget.examples import shapes

from ..harness import Agreement, Case, Section, run_memory_probe

EXAMPLES = 256
BATCH = 32
_STORES = tempfile.mkdtemp(prefix="iw-bench-")
atexit.register(shutil.rmtree, _STORES, True)
_fresh = itertools.count()

LoopOutput = Tuple[torch.Tensor, Optional[torch.Tensor]]  # attributions, predictions


def _shapes_loader(n: int = EXAMPLES, batch: int = BATCH):
    images, labels = shapes.make_dataset(n, seed=11)
    data = torch.utils.data.TensorDataset(shapes.normalize(images), labels)
    return torch.utils.data.DataLoader(data, batch_size=batch)


def _store_agreement(ours: AttributionStore, loop: LoopOutput) -> Agreement:
    stored = ours.attributions(range(len(ours)))[0]
    difference = float((stored - loop[0]).abs().max())
    agree = bool(torch.allclose(stored, loop[0], rtol=1e-5, atol=1e-6))
    if loop[1] is not None:
        agree = agree and ours.examples().column("prediction").to_pylist() == loop[1].tolist()
    return Agreement(agree, difference)


def _dataset_case(name: str, method: Any,
                  loop_batch: Callable[[torch.Tensor, torch.Tensor], LoopOutput],
                  **job: Any) -> Case:
    loader = _shapes_loader()

    def ours() -> AttributionStore:
        # a new directory per call, as a user's job writes (deleting the last one would be
        # work the loop does not do); all are removed when the process ends
        return attribute_dataset(method, loader, output=f"{_STORES}/{next(_fresh)}",
                                 progress=False, **job)

    def loop() -> LoopOutput:
        parts = [loop_batch(x, y) for x, y in loader]
        predictions = [p for _, p in parts if p is not None]
        return (torch.cat([a for a, _ in parts]),
                torch.cat(predictions) if predictions else None)

    return Case(name, "dataset", ours, loop, compare=_store_agreement, target_ratio=1.1,
                note="'captum' column = a hand-written loop over the batches with our engine "
                     "(attributions, predictions and scores kept in memory); ours also writes "
                     "Parquet and per-class summaries")


def cases() -> List[Case]:
    model = shapes.load_model()
    ig = IntegratedGradients(model)
    saliency = Saliency(model)

    def predict(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            scores, predictions = torch.softmax(model(x), 1).max(1)
        return predictions, scores

    def ig_batch(x: torch.Tensor, _y: torch.Tensor) -> LoopOutput:
        predictions, _scores = predict(x)
        attributions, _delta = ig.attribute(x, target=predictions, n_steps=16,
                                            return_convergence_delta=True)
        return attributions, predictions

    def saliency_label(x: torch.Tensor, y: torch.Tensor) -> LoopOutput:
        predictions, _scores = predict(x)
        return saliency.attribute(x, target=y), predictions

    def saliency_prediction(x: torch.Tensor, _y: torch.Tensor) -> LoopOutput:
        predictions, _scores = predict(x)
        return saliency.attribute(x, target=predictions), predictions

    def saliency_only(x: torch.Tensor, y: torch.Tensor) -> LoopOutput:
        return saliency.attribute(x, target=y), None

    return [
        _dataset_case(f"attribute_dataset[IG n_steps=16] shapesCNN N={EXAMPLES}", ig, ig_batch,
                      n_steps=16),
        # the cheapest method shows the job's own overhead most
        _dataset_case(f"attribute_dataset[Saliency target=label] shapesCNN N={EXAMPLES}",
                      saliency, saliency_label, target="label"),
        _dataset_case(f"attribute_dataset[Saliency target=prediction] shapesCNN N={EXAMPLES}",
                      saliency, saliency_prediction),
        _dataset_case(f"attribute_dataset[Saliency label, predictions=False] N={EXAMPLES}",
                      saliency, saliency_only, target="label", predictions=False),
    ]


# -- memory --------------------------------------------------------------------------------------
_MEMORY_BODY = r"""
import json, sys, tempfile, torch
from insight_widget.attr import Saliency
from insight_widget.datasets import attribute_dataset
from insight_widget.examples import shapes
kwargs = json.loads(sys.argv[1])
torch.set_num_threads(1)
model = shapes.load_model()

def batches(n):
    g = torch.Generator().manual_seed(0)
    for start in range(0, n, 100):
        yield torch.randn(100, 3, 32, 32, generator=g), torch.randint(5, (100,), generator=g)

# warm up (imports, first-call allocations) on 100 examples
attribute_dataset(Saliency(model), batches(100), progress=False)
peak_growth = reset_peak()
with tempfile.TemporaryDirectory() as directory:
    attribute_dataset(Saliency(model), batches(kwargs["n"]), output=directory + "/s",
                      progress=False, shard_bytes=kwargs["shard_bytes"])
print(json.dumps({"peak_growth_kib": peak_growth()}))
"""


def memory_flat() -> str:
    """Peak RSS growth of a job over 1,000 and 10,000 examples (shards of 4 MiB)."""
    rows = []
    for n in (1_000, 10_000):
        growth = run_memory_probe(_MEMORY_BODY, {"n": n, "shard_bytes": 4 << 20})
        rows.append(f"| {n:,} | {growth:.1f} |")
    return ("Saliency on the shapes CNN, 3x32x32 inputs (12 KiB of attribution per example), "
            "batches of 100, 4 MiB shards, fresh process each:\n\n"
            "| examples | peak RSS growth (MiB) |\n|---:|---:|\n" + "\n".join(rows))


# -- Ray -------------------------------------------------------------------------------------------
class ResNet50Logits(nn.Module):
    """transformers' ResNet-50 architecture (random weights from its config; nothing is
    downloaded), returning the logits tensor."""

    def __init__(self) -> None:
        super().__init__()
        from transformers import ResNetConfig, ResNetForImageClassification

        torch.manual_seed(0)
        self.net = ResNetForImageClassification(ResNetConfig(num_labels=1000)).eval()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net(pixel_values=pixels).logits


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _ray_row(name: str, method: Any, make_batches: Callable[[], List[Tuple[torch.Tensor, Any]]],
             workers: int, **job: Any) -> Dict[str, float]:
    batches = make_batches()
    examples = sum(x.shape[0] for x, _ in batches)
    directory = tempfile.mkdtemp(prefix="iw-bench-ray-")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            attribute_dataset(method, batches[:1], progress=False, **job)  # warm-up
            local = _timed(lambda: attribute_dataset(method, batches, progress=False,
                                                     output=f"{directory}/local", **job))
            ray_seconds = _timed(lambda: attribute_dataset(
                method, batches, engine="ray", num_workers=workers, progress=False,
                output=f"{directory}/ray", **job))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    per_worker = examples / ray_seconds / workers
    # worker-seconds spent beyond the single-process time, per batch
    overhead = (ray_seconds * workers - local) / len(batches)
    return {"name": name, "examples": examples, "batches": len(batches), "local_s": local,
            "ray_s": ray_seconds, "local_per_s": examples / local, "per_worker_per_s": per_worker,
            "overhead_per_batch_s": overhead}


def ray_throughput() -> str:
    """Ray engine on a local 2-worker cluster vs the single process (both with 2 cores)."""
    try:
        import ray
    except ImportError:
        return "Ray is not installed (pip install 'insight-widget[scale]')."
    workers = 2
    started = time.perf_counter()
    try:
        if not ray.is_initialized():
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    except Exception as error:  # reported: a loaded machine can time out Ray's start-up
        return f"Ray did not start on this machine: {type(error).__name__}: {error}"
    startup = time.perf_counter() - started
    cnn = shapes.load_model()

    def cnn_batches():
        images, labels = shapes.make_dataset(512, seed=3)
        images = shapes.normalize(images)
        return [(images[i:i + 32], labels[i:i + 32]) for i in range(0, 512, 32)]

    def resnet_batches():
        g = torch.Generator().manual_seed(0)
        return [(torch.randn(2, 3, 224, 224, generator=g), None) for _ in range(6)]

    rows = [
        _ray_row("shapes CNN, IG 16 steps, batches of 32", IntegratedGradients(cnn),
                 cnn_batches, workers, n_steps=16),
        _ray_row("ResNet-50 224x224, Saliency, batches of 2", Saliency(ResNet50Logits()),
                 resnet_batches, workers),
    ]
    ray.shutdown()
    lines = [f"local Ray cluster, {workers} workers (1 CPU and 1 torch thread each); "
             f"ray.init {startup:.1f} s (not counted)\n",
             "| workload | examples | single process (2 threads) ex/s | Ray ex/s per worker | "
             "Ray total s | overhead per batch (worker-s) |", "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['name']} | {row['examples']} | {row['local_per_s']:.1f} | "
                     f"{row['per_worker_per_s']:.1f} | {row['ray_s']:.1f} | "
                     f"{row['overhead_per_batch_s']:.2f} |")
    lines.append("\n" + json.dumps(rows))
    return "\n".join(lines)


def sections() -> List[Section]:
    return [Section("Dataset job memory over 10,000 examples", memory_flat, ["dataset"]),
            Section("Ray engine: overhead per batch and throughput per worker", ray_throughput,
                    ["dataset"])]
