"""The model's output on a batch, read from the attribution method's own forward pass.

The dataset job stores each example's prediction and score. Many methods evaluate the model on
the unperturbed batch anyway — gradient methods (Saliency, InputXGradient, GuidedBackprop,
Deconvolution, Grad-CAM), DeepLift (inputs stacked over the baselines, 2N rows), Integrated
Gradients' convergence delta (inputs stacked over the baselines), and the perturbation methods'
initial evaluation. An :class:`OutputCapture` keeps the output of that call with a forward hook
on the model, so the job needs no forward pass of its own.

A call counts as the batch's only when its first ``n`` rows are the batch's inputs (the same
memory, or equal values) and the output has one row per input row; the output's first ``n``
rows are then the model's output on the batch. Only methods whose forward values are the
model's own are listed (their hooks change gradients only, not a layer's output values: not
Layer Integrated Gradients, LRP, ...), and only models whose rows are independent (every
module in eval mode: stacking 2N rows gives each row the output it has alone). When no call
qualifies the job runs the forward itself.

``target='prediction'`` needs the predicted class before the method runs. A method that makes
exactly one forward pass, on the batch itself (:func:`chooses_in_forward`: Saliency,
InputXGradient, GuidedBackprop, Deconvolution, Grad-CAM, layer gradient x activation), is run
with ``target=None`` under a :class:`PredictionTarget` hook instead: the hook classifies the
output and returns the output at the predicted class, ``output[i, c_i]`` (n,). The method then
differentiates exactly what it would with ``target=predictions`` — the selection is the same
gather, only done in the hook — so the maps are the same numbers, from one forward pass where
the job otherwise makes two. Any other call (a second one, other rows) raises
:class:`NotOneForward` and the job takes the general path.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..attr import (
    Deconvolution,
    DeepLift,
    FeatureAblation,
    GuidedBackprop,
    InputXGradient,
    IntegratedGradients,
    LayerGradCam,
    LayerGradientXActivation,
    Occlusion,
    Saliency,
    ShapleyValues,
    ShapleyValueSampling,
)
from ..attr.core import module_of, rows_are_independent

# exact types: a subclass may change the forward pass
_OWN_FORWARD = (Saliency, InputXGradient, GuidedBackprop, Deconvolution, DeepLift,
                IntegratedGradients, FeatureAblation, Occlusion, ShapleyValueSampling,
                ShapleyValues, LayerGradCam, LayerGradientXActivation)

# ... of which these make exactly one forward pass, on the batch itself
_ONE_FORWARD = (Saliency, InputXGradient, GuidedBackprop, Deconvolution, LayerGradCam,
                LayerGradientXActivation)


def chooses_in_forward(method: Any) -> bool:
    """True when ``method``'s only forward pass is on the unperturbed batch, so the predicted
    class can be chosen inside it (:class:`PredictionTarget`)."""
    return type(method) in _ONE_FORWARD and module_of(method.forward_func) is not None


def captures_own_output(method: Any) -> bool:
    """True when ``method``'s forward pass on the unperturbed batch (if it makes one) is the
    model's plain output, so :class:`OutputCapture` may read prediction and score from it."""
    return type(method) in _OWN_FORWARD and module_of(method.forward_func) is not None


class OutputCapture:
    """Context manager: a forward hook on the model behind ``forward_func`` keeps
    ``output`` (n, ...) — detached, the first call's whose first n rows are ``inputs``; None
    when no call qualifies (or the model is in training mode)."""

    def __init__(self, forward_func: Callable[..., Any], inputs: Sequence[Tensor]) -> None:
        self.model = module_of(forward_func)
        self.inputs = tuple(inputs)
        self.output: Optional[Tensor] = None
        self._handle: Any = None

    def __enter__(self) -> OutputCapture:
        if self.model is not None and rows_are_independent(self.model):
            self._handle = self.model.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _hook(self, _module: Any, args: Any, output: Any) -> None:
        if self.output is not None or not isinstance(output, Tensor):
            return
        n = self.inputs[0].shape[0]
        if len(args) < len(self.inputs) or output.dim() == 0 or n == 0:
            return
        rows = args[0].shape[0] if isinstance(args[0], Tensor) and args[0].dim() else -1
        if rows < n or output.shape[0] != rows:
            return
        if all(_starts_with(given, x) for given, x in zip(args, self.inputs)):
            self.output = output[:n].detach()


def _starts_with(given: Any, x: Tensor) -> bool:
    """True when the first ``len(x)`` rows of ``given`` equal ``x`` (a view of the same
    memory is recognised without comparing values)."""
    if not isinstance(given, Tensor) or given.dim() != x.dim() or given.shape[1:] != x.shape[1:]:
        return False
    head = given[:x.shape[0]]
    if head.dtype != x.dtype or head.device != x.device:
        return False
    if head.data_ptr() == x.data_ptr() and head.stride() == x.stride():
        return True
    return bool(torch.equal(head, x))


class NotOneForward(Exception):
    """The method's forward calls were not the single call on the batch that
    :class:`PredictionTarget` expects (the job then takes the general path)."""


Classify = Callable[[Tensor, int], Tuple[Optional[Tensor], Optional[Tensor]]]


class PredictionTarget(OutputCapture):
    """Context manager for ``target='prediction'`` with a one-forward method run with
    ``target=None``: the hook classifies the model's output on the batch with ``classify``
    (output, n) -> (classes, scores) and replaces it by the output at each example's class,
    (n,). ``predictions`` and ``scores`` hold the classification afterwards."""

    def __init__(self, forward_func: Callable[..., Any], inputs: Sequence[Tensor],
                 classify: Classify) -> None:
        super().__init__(forward_func, inputs)
        self.classify = classify
        self.predictions: Optional[Tensor] = None
        self.scores: Optional[Tensor] = None

    def __enter__(self) -> PredictionTarget:
        if self.model is None or not rows_are_independent(self.model):
            raise NotOneForward
        self._handle = self.model.register_forward_hook(self._hook)
        return self

    def _hook(self, module: Any, args: Any, output: Any) -> Any:
        if self.output is not None:
            raise NotOneForward  # a second call
        super()._hook(module, args, output)
        n = self.inputs[0].shape[0]
        if self.output is None or output.shape[0] != n:
            raise NotOneForward
        self.predictions, self.scores = self.classify(self.output, n)
        if self.predictions is None:
            raise NotOneForward  # no class scores (n, C): the general path names the error
        chosen = self.predictions.to(output.device).unsqueeze(1)
        return output.gather(1, chosen).squeeze(1)
