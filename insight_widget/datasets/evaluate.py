"""Dataset-level metrics over a store: a second pass that reads the stored maps instead of
recomputing them (only max-sensitivity, which perturbs the inputs, re-runs the method).

The store keeps maps, not inputs, so the data is read again, in the same order (ids are stream
positions, or the Ray Dataset's ``id`` column); examples missing from the store (skipped) are
left out.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from ..attr.core import check_choice, describe
from ..metrics import deletion, infidelity, insertion, sensitivity_max
from .compute import method_forward
from .sources import iterate_batches
from .store import AttributionStore

METRICS = ("infidelity", "sensitivity", "deletion", "insertion")


def gaussian_perturbation(inputs: Tensor, scale: float = 0.03) -> Tuple[Tensor, Tensor]:
    """(perturbation I, x - I) with I ~ N(0, scale^2): infidelity's default perturbation."""
    noise = scale * torch.randn_like(inputs)
    return noise, inputs - noise


def evaluate_store(store: AttributionStore, method: Any, data: Any, *,
                   metrics: Sequence[str] = METRICS, batch_size: Optional[int] = None,
                   perturb_func: Callable[..., Any] = gaussian_perturbation,
                   n_perturb_samples: int = 10, **attribute_args: Any) -> Dict[str, Tensor]:
    """Per-example metrics of the stored maps.

    Args:
        store: the store written by ``attribute_dataset(method, data, ...)``.
        method: the same attribution method (its model evaluates the metrics; ``sensitivity``
            re-runs it on perturbed inputs with ``attribute_args``).
        data: the same data, in the same order.
        metrics: any of ``"infidelity"`` (lower is better), ``"sensitivity"`` (max-sensitivity,
            lower is better), ``"deletion"`` (AUC, lower is better), ``"insertion"`` (AUC,
            higher is better).
        batch_size: as for ``attribute_dataset``.
        perturb_func, n_perturb_samples: infidelity's perturbation (default Gaussian noise of
            standard deviation 0.03) and the samples per example of infidelity/sensitivity.

    Returns:
        ``{"id": (M,), metric: (M,) ...}`` for the M stored examples of ``data``, in data order.
    """
    if not isinstance(store, AttributionStore):
        raise TypeError(f"`store` must be an AttributionStore; got {describe(store)}.")
    metrics = [check_choice("metrics", m, METRICS) for m in metrics]
    forward = method_forward(method)
    table = store.examples(columns=["id", "target"])
    target_of = dict(zip(table.column("id").to_pylist(), table.column("target").to_pylist()))
    results: Dict[str, list] = {name: [] for name in ("id", *metrics)}
    for batch in iterate_batches(data, batch_size):
        ids = batch.ids()
        keep = torch.tensor([int(i) in target_of for i in ids], dtype=torch.bool)
        if not keep.any():
            continue
        if not keep.all():
            batch = batch.select(keep.nonzero().reshape(-1))
            ids = batch.ids()
        targets = [target_of[int(i)] for i in ids]
        target = None if None in targets else torch.tensor(targets, dtype=torch.int64)
        stored = store.attributions(ids.tolist())
        inputs = batch.inputs if batch.is_tuple else batch.inputs[0]
        maps = stored if batch.is_tuple else stored[0]
        maps = maps if isinstance(maps, tuple) else maps.reshape(batch.inputs[0].shape)
        extra = batch.additional_forward_args
        results["id"].append(ids)
        for name in metrics:
            results[name].append(_metric(name, forward, method, inputs, maps, target, extra,
                                         perturb_func, n_perturb_samples, attribute_args))
    return {name: torch.cat(values) if values else torch.zeros(0)
            for name, values in results.items()}


def _metric(name: str, forward: Callable[..., Any], method: Any, inputs: Any, maps: Any,
            target: Optional[Tensor], extra: Any, perturb_func: Callable[..., Any],
            samples: int, attribute_args: Dict[str, Any]) -> Tensor:
    if name == "infidelity":
        return infidelity(forward, perturb_func, inputs, maps, target=target,
                          additional_forward_args=extra, n_perturb_samples=samples).detach()
    if name == "sensitivity":
        kwargs = dict(attribute_args)
        if target is not None:
            kwargs["target"] = target
        if extra is not None:
            kwargs["additional_forward_args"] = extra
        return sensitivity_max(method.attribute, inputs, n_perturb_samples=samples,
                               **kwargs).detach()
    curve = deletion if name == "deletion" else insertion
    return curve(forward, inputs, maps, target=target, additional_forward_args=extra).auc


def mean_metrics(values: Dict[str, Tensor]) -> Dict[str, float]:
    """Dataset-level means of :func:`evaluate_store`'s per-example values."""
    return {name: float(np.mean(v.double().numpy())) for name, v in values.items()
            if name != "id" and v.numel()}
