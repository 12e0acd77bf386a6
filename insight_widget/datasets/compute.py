"""Attributing one batch: the record every engine (single process, Ray actor) produces.

A :class:`BatchAttributor` wraps an attribution method (primary, layer, neuron, NoiseTunnel:
anything with ``attribute`` and ``forward_func``) with the dataset job's settings and turns a
:class:`~.sources.SourceBatch` into a :class:`BatchResult`: ids, labels, the model's
prediction and score, the target explained, the attributions (float32, on the CPU) and the
convergence delta where the method has one.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, fields
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ..attr.core import describe, format_additional_forward_args, run_forward
from .outputs import (
    NotOneForward,
    OutputCapture,
    PredictionTarget,
    captures_own_output,
    chooses_in_forward,
)
from .sources import SourceBatch

TargetSpec = Union[None, int, str, Callable[..., Any]]
TARGET_CHOICES = ("prediction", "label")
DEFAULT_TARGET = "prediction"


@dataclass
class BatchResult:
    """Per-example results of a batch; every tensor has n rows (dim 0)."""

    ids: Tensor
    labels: Optional[Tensor]
    predictions: Optional[Tensor]
    scores: Optional[Tensor]
    targets: Optional[Tensor]
    attributions: Tuple[Tensor, ...]
    deltas: Optional[Tensor]

    @property
    def size(self) -> int:
        return self.ids.shape[0]

    def select(self, rows: Tensor) -> BatchResult:
        return BatchResult(**{f.name: _pick(getattr(self, f.name), rows) for f in fields(self)})

    @staticmethod
    def concat(results: Sequence[BatchResult]) -> BatchResult:
        """One result with the rows of all ``results``, in order."""
        values: Dict[str, Any] = {}
        for f in fields(BatchResult):
            parts = [getattr(r, f.name) for r in results]
            if any(p is None for p in parts):
                values[f.name] = None
            elif isinstance(parts[0], tuple):
                values[f.name] = tuple(torch.cat(group) for group in zip(*parts))
            else:
                values[f.name] = torch.cat(parts)
        return BatchResult(**values)


def _pick(value: Any, rows: Tensor) -> Any:
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(v.index_select(0, rows) for v in value)
    return value.index_select(0, rows)


def method_forward(method: Any) -> Callable[..., Any]:
    """The model behind an attribution method (NoiseTunnel: the wrapped method's)."""
    inner = getattr(method, "attribution_method", None)
    forward = getattr(inner if inner is not None else method, "forward_func", None)
    if forward is None:
        raise TypeError(f"`method` must be an attribution method with a `forward_func` "
                        f"(e.g. IntegratedGradients(model)); got {describe(method)}.")
    return forward


def accepts(method: Any, parameter: str) -> bool:
    """True when ``method.attribute`` takes ``parameter`` (NoiseTunnel forwards its keyword
    arguments: the wrapped method decides)."""
    inner = getattr(method, "attribution_method", None)
    return parameter in inspect.signature((inner or method).attribute).parameters


def check_target(method: Any, target: Any) -> TargetSpec:
    """Validate the job's ``target`` for ``method``; returns the target spec to use."""
    takes_target = accepts(method, "target")
    if target is DEFAULT_TARGET_SENTINEL:
        return DEFAULT_TARGET if takes_target else None
    if target is not None and not takes_target:
        raise ValueError(f"`target` must be None for {type(method).__name__}, whose attribute() "
                         f"has no target (choose the neuron with neuron_selector=...); got "
                         f"{describe(target)}.")
    if target is None or callable(target) or (isinstance(target, int)
                                              and not isinstance(target, bool)):
        return target
    if isinstance(target, str) and target in TARGET_CHOICES:
        return target
    raise ValueError(f"`target` must be 'prediction', 'label', a class index, a callable "
                     f"(inputs, labels) -> target, or None; got {describe(target)}.")


class _Default:
    def __repr__(self) -> str:
        return "'prediction'"


DEFAULT_TARGET_SENTINEL: Any = _Default()


class BatchAttributor:
    """Attributes batches with ``method`` and the job's settings.

    Args:
        method: the attribution object.
        target: ``'prediction'`` (the model's top class), ``'label'``, a class index, a
            callable ``(inputs, labels) -> target`` (any of Captum's target forms), or None.
        attribute_args: further ``attribute()`` arguments (``n_steps``, ``baselines``, ...).
        predictions: record prediction and score (the top class and its ``score_func`` value).
            They come from the method's own forward pass on the unperturbed batch where it
            makes one (:func:`.outputs.captures_own_output`); otherwise, and for
            ``target='prediction'`` (needed before the method runs), from one more forward.
        score_func: maps the outputs (n, C) to scores; default softmax over dim 1.
        convergence_delta: record the method's convergence delta when it has one.
    """

    def __init__(self, method: Any, target: TargetSpec, attribute_args: Dict[str, Any],
                 predictions: bool = True, score_func: Optional[Callable[[Tensor], Tensor]] = None,
                 convergence_delta: bool = True) -> None:
        self.method = method
        self.forward_func = method_forward(method)
        self.target = target
        self.attribute_args = dict(attribute_args)
        self.predictions = predictions or target == "prediction"
        self.score_func = score_func
        self.delta = bool(convergence_delta) and bool(method.has_convergence_delta())
        self._takes_args = accepts(method, "additional_forward_args")
        self._own_output = captures_own_output(method)
        self._prediction_in_forward = target == "prediction" and chooses_in_forward(method)

    def _predict(self, batch: SourceBatch) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        """Prediction and score from a forward pass of its own (no gradients)."""
        extra = format_additional_forward_args(batch.additional_forward_args)
        with torch.no_grad():
            output = run_forward(self.forward_func, batch.inputs, None, extra)
        return self._classify(output, batch.size)

    def _classify(self, output: Tensor, n: int) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        """(top class, its score) per example of class scores (n, C); (None, value) for one
        value per example; (None, None) otherwise."""
        if output.dim() == 2 and output.shape[1] > 1:
            scores = (self.score_func(output) if self.score_func is not None
                      else torch.softmax(output.float(), dim=1))
            best, classes = scores.max(dim=1)
            return classes.to(torch.int64).cpu(), best.float().cpu()
        if output.dim() >= 1 and output.numel() == n:
            return None, output.reshape(-1).float().cpu()
        return None, None

    def _target(self, batch: SourceBatch, predictions: Optional[Tensor]) -> Any:
        if self.target == "prediction":
            if predictions is None:
                raise ValueError("`target='prediction'` needs a model returning class scores "
                                 "(n, C) with C > 1; use target=None or a class index.")
            return predictions.to(batch.inputs[0].device)
        if self.target == "label":
            if batch.labels is None:
                raise ValueError(f"`target='label'` but {batch.describe()} has no labels.")
            return batch.labels.to(batch.inputs[0].device)
        if callable(self.target):
            return self.target(batch.inputs if batch.is_tuple else batch.inputs[0], batch.labels)
        return self.target

    def __call__(self, batch: SourceBatch) -> BatchResult:
        if self._prediction_in_forward:
            # target='prediction' with a method making one forward pass, on the batch: that
            # pass chooses the predicted class and explains it (.outputs.PredictionTarget)
            chooser = PredictionTarget(self.forward_func, batch.inputs, self._classify)
            try:
                with chooser:
                    returned = self._attribute(batch, None)
            except NotOneForward:
                # another kind of call (or a model in training mode): the general path, now
                # and for the next batches (same method and model)
                self._prediction_in_forward = False
            else:
                return self._result(batch, returned, chooser.predictions, chooser.scores,
                                    chooser.predictions)
        # target='prediction' otherwise needs the prediction before the method runs: a
        # forward pass of its own. Other targets: the method's own call on the unperturbed
        # batch (when it makes one, see .outputs) supplies prediction and score.
        capture: Optional[OutputCapture] = None
        predictions = scores = None
        if self.target == "prediction" or (self.predictions and not self._own_output):
            predictions, scores = self._predict(batch)
        elif self.predictions:
            capture = OutputCapture(self.forward_func, batch.inputs)
        target = self._target(batch, predictions)
        if capture is None:
            returned = self._attribute(batch, target)
        else:
            with capture:
                returned = self._attribute(batch, target)
            if capture.output is None:  # the method did not evaluate the batch as it is
                predictions, scores = self._predict(batch)
            else:
                predictions, scores = self._classify(capture.output, batch.size)
        return self._result(batch, returned, predictions, scores, target)

    def _attribute(self, batch: SourceBatch, target: Any) -> Any:
        """``method.attribute`` on the batch with the job's arguments."""
        kwargs = dict(self.attribute_args)
        if target is not None:
            kwargs["target"] = target
        if batch.additional_forward_args is not None:
            if not self._takes_args:
                raise ValueError(f"{batch.describe()} has additional_forward_args but "
                                 f"{type(self.method).__name__}.attribute() takes none.")
            kwargs["additional_forward_args"] = batch.additional_forward_args
        if self.delta:
            kwargs["return_convergence_delta"] = True
        inputs = batch.inputs if batch.is_tuple else batch.inputs[0]
        return self.method.attribute(inputs, **kwargs)

    def _result(self, batch: SourceBatch, returned: Any, predictions: Optional[Tensor],
                scores: Optional[Tensor], target: Any) -> BatchResult:
        deltas = None
        if self.delta:
            returned, delta = returned
            deltas = _per_example_delta(torch.as_tensor(delta), batch.size)
        attributions = returned if isinstance(returned, tuple) else (returned,)
        attributions = tuple(a.detach().to("cpu", torch.float32) for a in attributions)
        for a in attributions:
            if a.dim() == 0 or a.shape[0] != batch.size:
                raise ValueError(f"{type(self.method).__name__} returned attributions of shape "
                                 f"{tuple(a.shape)} for {batch.describe()}; expected dim 0 = "
                                 f"{batch.size} examples.")
        return BatchResult(batch.ids(), None if batch.labels is None else
                           batch.labels.to("cpu", torch.int64), predictions, scores,
                           _per_example_target(target, batch.size), attributions, deltas)


def _per_example_delta(delta: Tensor, n: int) -> Optional[Tensor]:
    """One delta per example; NoiseTunnel returns one per noisy sample (n * samples,
    example-major): the largest |delta| of each example's samples is kept."""
    delta = delta.detach().to("cpu", torch.float32).reshape(-1)
    if delta.numel() == n:
        return delta
    if n and delta.numel() % n == 0:
        per = delta.reshape(n, -1)
        return per.gather(1, per.abs().argmax(dim=1, keepdim=True)).reshape(-1)
    return None


def _per_example_target(target: Any, n: int) -> Optional[Tensor]:
    """The target class per example when the target is one class index per example."""
    if isinstance(target, int) and not isinstance(target, bool):
        return torch.full((n,), target, dtype=torch.int64)
    if isinstance(target, Tensor) and target.dim() <= 1 and not target.is_floating_point():
        return target.reshape(-1).expand(n).to("cpu", torch.int64).clone() \
            if target.numel() in (1, n) else None
    if isinstance(target, list) and len(target) == n and all(isinstance(t, int) for t in target):
        return torch.tensor(target, dtype=torch.int64)
    return None


def example_shapes(result: BatchResult) -> List[Tuple[int, ...]]:
    """The per-example shape of each attribution tensor."""
    return [tuple(a.shape[1:]) for a in result.attributions]
