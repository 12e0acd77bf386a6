"""Base classes carrying what every attribution algorithm shares (Captum's public names).

* :class:`Attribution`: ``forward_func``, ``attribute``, ``has_convergence_delta``,
  ``multiplies_by_inputs``, ``get_name``.
* :class:`GradientAttribution`: adds ``compute_convergence_delta``.
* :class:`PerturbationAttribution`: perturbation methods (``multiplies_by_inputs`` is True:
  an ablation measures the effect of moving from baseline to input).
* :class:`LayerAttribution` / :class:`NeuronAttribution`: algorithms looking inside a layer.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import torch.nn.functional as F
from torch import Tensor, nn

from ._utils.forward import forward_pair
from ._utils.inputs import (
    expand_baselines,
    format_additional_forward_args,
    format_baselines,
    format_inputs,
)
from ._utils.target import Target, format_target
from ._utils.validation import check_bool, check_callable, check_choice, describe

TensorOrTupleOfTensors = Union[Tensor, Tuple[Tensor, ...]]


class Attribution(ABC):
    """An attribution algorithm for the model (or any callable) ``forward_func``."""

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        self.forward_func = check_callable("forward_func", forward_func)

    @abstractmethod
    def attribute(self, inputs: TensorOrTupleOfTensors, **kwargs: Any) -> Any:
        """Attributions with the shape(s) of ``inputs`` (or of the layer, for layer methods)."""

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether attributions are multiplied by (inputs - baselines), i.e. are *global*."""
        return False

    def has_convergence_delta(self) -> bool:
        """Whether ``attribute(..., return_convergence_delta=True)`` is supported."""
        return False

    @classmethod
    def get_name(cls) -> str:
        """Readable name from the class name: ``IntegratedGradients`` -> "Integrated Gradients"."""
        return re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__)


class MultipliesByInputsOption:
    """Captum's ``multiply_by_inputs`` constructor flag, for the algorithms that have it: True
    gives *global* attributions (multiplied by inputs - baselines, e.g. IG's
    ``(x - x') * avg grad``), False *local* ones (the factor left out). Listed before the
    base class, so ``multiplies_by_inputs`` reports the flag."""

    _multiply_by_inputs: bool = True

    def _set_multiply_by_inputs(self, multiply_by_inputs: Any) -> None:
        self._multiply_by_inputs = check_bool("multiply_by_inputs", multiply_by_inputs)

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs


def summed_attributions(attributions: Sequence[Tensor], num_examples: int) -> Tensor:
    """Per-example sum of attributions over all inputs and non-batch dimensions, shape (N,)."""
    total = None
    for attribution in attributions:
        per_example = attribution.reshape(num_examples, -1).sum(1)
        total = per_example if total is None else total + per_example
    assert total is not None
    return total


def convergence_delta(
    forward_func: Callable[..., Any],
    attributions: Sequence[Tensor],
    start_point: Tuple[Tensor, ...],
    end_point: Tuple[Tensor, ...],
    target: Target,
    additional_forward_args: Optional[Tuple[Any, ...]],
    endpoint_outputs: Optional[Tuple[Tensor, Tensor]] = None,
) -> Tensor:
    """``sum(attributions) - (F(end_point) - F(start_point))`` per example, shape (N,).

    ``endpoint_outputs`` = (F(start), F(end)) reuses outputs an algorithm already computed.
    """
    n = end_point[0].shape[0]
    if endpoint_outputs is None:
        end_out, start_out = forward_pair(forward_func, end_point, start_point, target,
                                          additional_forward_args)
    else:
        start_out, end_out = endpoint_outputs
    total = summed_attributions(attributions, n)
    difference = (end_out - start_out).reshape(-1) if end_out.dim() > 0 else end_out - start_out
    if difference.dim() > 0 and difference.numel() != n:
        raise ValueError(
            "the convergence delta needs one model output per example; the targeted output has "
            f"{difference.numel()} values for {n} examples."
        )
    return total - difference.to(total.dtype) if difference.dim() > 0 else total.sum() - difference


class GradientAttribution(Attribution):
    """Algorithms built on gradients of the model output w.r.t. its inputs."""

    def compute_convergence_delta(
        self,
        attributions: TensorOrTupleOfTensors,
        start_point: Union[int, float, Tensor, Tuple[Union[int, float, Tensor], ...], None],
        end_point: TensorOrTupleOfTensors,
        target: Any = None,
        additional_forward_args: Any = None,
    ) -> Tensor:
        """Completeness error per example: sum(attributions) - (F(end_point) - F(start_point)).

        ``attributions`` and ``end_point`` are tensors or tuples of matching shapes (N, ...);
        ``start_point`` is a baseline in any accepted form. Returns a tensor of shape (N,).
        """
        end, _ = format_inputs(end_point, "end_point")
        attrs, _ = format_inputs(attributions, "attributions")
        if len(attrs) != len(end) or any(a.shape != e.shape for a, e in zip(attrs, end)):
            raise ValueError(
                "`attributions` must have the shapes of `end_point` "
                f"{[tuple(e.shape) for e in end]}; got {[tuple(a.shape) for a in attrs]}."
            )
        start = expand_baselines(format_baselines(start_point, end, "start_point"), end)
        return convergence_delta(
            self.forward_func, attrs, start, end, format_target(target, end[0].shape[0]),
            format_additional_forward_args(additional_forward_args),
        )


class PerturbationAttribution(Attribution):
    """Algorithms that perturb inputs and observe the change of the output (no gradients)."""

    @property
    def multiplies_by_inputs(self) -> bool:
        return True


class InternalAttribution(Attribution):
    """Algorithms attributing to or from a layer inside ``forward_func``."""

    def __init__(
        self,
        forward_func: Callable[..., Any],
        layer: Any,
        device_ids: Union[List[int], None] = None,
    ) -> None:
        super().__init__(forward_func)
        if not isinstance(layer, (nn.Module, list)):
            raise TypeError(
                f"`layer` must be a torch.nn.Module inside the model; got {describe(layer)}."
            )
        self.layer = layer
        self.device_ids = device_ids


class LayerAttribution(InternalAttribution):
    """Attribution of the output to the neurons (activations) of a layer."""

    @staticmethod
    def interpolate(
        layer_attribution: Tensor,
        interpolate_dims: Union[int, Tuple[int, ...]],
        interpolate_mode: str = "nearest",
    ) -> Tensor:
        """Resize a (N, C, *spatial) layer attribution to ``interpolate_dims`` (e.g. the input's
        H, W) with ``torch.nn.functional.interpolate`` in ``interpolate_mode``
        ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")."""
        check_choice("interpolate_mode", interpolate_mode,
                     ["nearest", "linear", "bilinear", "bicubic", "trilinear", "area",
                      "nearest-exact"])
        if not isinstance(layer_attribution, Tensor) or layer_attribution.dim() < 3:
            raise ValueError(
                "`layer_attribution` must be a tensor of shape (N, C, *spatial); got "
                f"{describe(layer_attribution)}."
            )
        return F.interpolate(layer_attribution, size=interpolate_dims, mode=interpolate_mode)


class NeuronAttribution(InternalAttribution):
    """Attribution of one neuron of a layer to the inputs."""


__all__ = [
    "Attribution",
    "GradientAttribution",
    "InternalAttribution",
    "LayerAttribution",
    "NeuronAttribution",
    "PerturbationAttribution",
    "TensorOrTupleOfTensors",
    "convergence_delta",
    "summed_attributions",
]

