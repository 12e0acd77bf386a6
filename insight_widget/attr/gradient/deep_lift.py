"""DeepLift with the rescale rule (Shrikumar, Greenside, Kundaje, ICML 2017)."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional, Tuple, Union

from torch import Tensor, nn

from .._utils.deeplift_rules import deeplift_rules
from .._utils.forward import input_gradients
from .._utils.inputs import (
    expand_additional_forward_args,
    expand_baselines,
    format_baselines,
    restore_format,
)
from .._utils.path import times_difference
from .._utils.prepare import prepare_call
from .._utils.target import Target
from .._utils.validation import check_bool, check_callable, check_module, check_number, describe
from ..base import (
    GradientAttribution,
    MultipliesByInputsOption,
    TensorOrTupleOfTensors,
    convergence_delta,
)

CustomAttributionFunc = Callable[..., Tuple[Tensor, ...]]


def deeplift_multipliers(
    model: nn.Module,
    inputs: Tuple[Tensor, ...],
    baselines: Tuple[Tensor, ...],
    target: Target,
    args: Optional[Tuple[Any, ...]],
    eps: float,
    method: str = "DeepLift",
) -> Tuple[Tuple[Tensor, ...], Tensor]:
    """DeepLift multipliers dF/dx of each input (shape of the inputs) and the targeted outputs.

    One forward+backward over the stacked batch [inputs; baselines] (2N rows) under
    :func:`~insight_widget.attr._utils.deeplift_rules.deeplift_rules`. Returns
    ``(multipliers, outputs)`` where ``outputs`` holds F(inputs) in rows 0..N-1 and
    F(baselines) in rows N..2N-1 (detached).
    """
    with deeplift_rules(model, eps, method):
        return input_gradients(model, inputs, target.repeat(2),
                               expand_additional_forward_args(args, 2), reference_rows=baselines)


def stacked_endpoints(outputs: Tensor, n: int) -> Optional[Tuple[Tensor, Tensor]]:
    """(F(baselines), F(inputs)) from the outputs of a stacked 2N-row pass, if they have rows."""
    if outputs.dim() == 0 or outputs.shape[0] != 2 * n:
        return None
    return outputs[n:], outputs[:n]


def check_custom_attribution_func(func: Any) -> Optional[CustomAttributionFunc]:
    """``None`` or a callable taking 1 to 3 positional arguments."""
    if func is None:
        return None
    check_callable("custom_attribution_func", func)
    count = _positional_count(func)
    if count is not None and not 1 <= count <= 3:
        raise ValueError(
            "`custom_attribution_func` must take 1 to 3 arguments (multipliers[, inputs"
            f"[, baselines]]); got a function of {count} arguments."
        )
    return func


def _positional_count(func: Callable[..., Any]) -> Optional[int]:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def deeplift_attributions(
    multipliers: Tuple[Tensor, ...],
    inputs: Tuple[Tensor, ...],
    baselines: Tuple[Tensor, ...],
    multiply_by_inputs: bool,
    custom_attribution_func: Optional[CustomAttributionFunc],
) -> Tuple[Tensor, ...]:
    """Final scores from multipliers: ``custom_attribution_func`` called with (multipliers),
    (multipliers, inputs) or (multipliers, inputs, baselines) by its arity (baselines
    expanded to the inputs' shapes), else multipliers * (inputs - baselines) or the
    multipliers alone (``multiply_by_inputs=False``)."""
    if custom_attribution_func is None:
        if not multiply_by_inputs:
            return multipliers
        return times_difference(multipliers, inputs, baselines)
    count = _positional_count(custom_attribution_func)
    arguments = (multipliers, inputs, baselines)[: count if count is not None else 3]
    result = custom_attribution_func(*arguments)
    if not (isinstance(result, tuple) and len(result) == len(inputs)
            and all(isinstance(r, Tensor) for r in result)):
        raise TypeError(
            f"`custom_attribution_func` must return a tuple of {len(inputs)} tensor(s), one per "
            f"input; got {describe(result)}."
        )
    return result


class DeepLift(MultipliesByInputsOption, GradientAttribution):
    r"""DeepLift (rescale rule): attributions that explain F(x) - F(x') exactly.

    Each supported non-linearity's derivative is replaced by the multiplier
    :math:`\Delta y / \Delta x` between input and baseline (see
    ``insight_widget.attr._utils.deeplift_rules`` for the rules and the supported modules), so
    the chain rule yields multipliers :math:`m_i` with

    .. math:: a_i = m_i (x_i - x'_i), \qquad \sum_i a_i = F(x) - F(x')

    for networks made of linear maps and supported non-linearities (summation-to-delta; the
    convergence delta measures any remainder). The inputs and baselines run together in one
    forward+backward pass over 2N rows.

    Numbers are Captum 0.9's, including its convention where one supported module's input
    tensor is directly another supported module's output (e.g. ``ReLU -> MaxPool``) or also
    feeds other operations (``relu(h) + h``): there the rules do not compose and the delta is
    not zero (details and the exact alternative in ``insight_widget.attr._utils.deeplift_rules``).
    A new tensor in between (``x.clone()``) restores exact composition, in Captum too.

    Non-linearities must be modules (``nn.ReLU`` etc., matched by exact type); functional
    calls keep their ordinary gradient, as in Captum. A module used several times in one
    forward gets the rule at each call (a ``RuntimeWarning`` names it; Captum 0.9 rejects
    such models).

    Args:
        model: the ``nn.Module`` to explain (hooks are installed on its submodules).
        multiply_by_inputs: multiply the multipliers by (inputs - baselines) (global
            attribution, default) or return the multipliers (local attribution). Ignored
            when ``custom_attribution_func`` is given.
        eps: differences |x - x'| below ``eps`` keep the ordinary gradient (default 1e-10).
    """

    def __init__(self, model: nn.Module, multiply_by_inputs: bool = True,
                 eps: float = 1e-10) -> None:
        check_module("model", model, "DeepLift installs hooks on its non-linear modules")
        super().__init__(model)
        self.model = model
        self._set_multiply_by_inputs(multiply_by_inputs)
        self.eps = check_number("eps", eps, minimum=0.0)

    def has_convergence_delta(self) -> bool:
        return True

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        custom_attribution_func: Optional[CustomAttributionFunc] = None,
    ) -> Union[TensorOrTupleOfTensors, Tuple[TensorOrTupleOfTensors, Tensor]]:
        """DeepLift attributions of the targeted output.

        Args:
            inputs: tensor or tuple of tensors, dim 0 = N examples.
            baselines: None (zeros), a number, a tensor shaped like the input or like one
                example, or a tuple of those (one per input).
            target: output index per example (int, tuple, tensor, list).
            additional_forward_args: extra model arguments (tensors are stacked like the
                inputs for the 2N-row pass).
            return_convergence_delta: also return sum(attributions) - (F(x) - F(x')) per
                example, shape (N,).
            custom_attribution_func: ``f(multipliers[, inputs[, baselines]])`` returning a
                tuple of attribution tensors, one per input.

        Returns:
            Attributions shaped like ``inputs``; with the delta, ``(attributions, delta)``.
        """
        call = prepare_call(inputs, target, additional_forward_args, gradients_of="DeepLift")
        check_bool("return_convergence_delta", return_convergence_delta)
        custom = check_custom_attribution_func(custom_attribution_func)
        baselines_ = expand_baselines(format_baselines(baselines, call.inputs), call.inputs)
        multipliers, outputs = deeplift_multipliers(self.model, call.inputs, baselines_,
                                                    call.target, call.args, self.eps,
                                                    type(self).__name__)
        attributions = deeplift_attributions(multipliers, call.inputs, baselines_,
                                             self._multiply_by_inputs, custom)
        result = restore_format(attributions, call.was_tuple)
        if not return_convergence_delta:
            return result
        delta = convergence_delta(self.model, attributions, baselines_, call.inputs,
                                  call.target, call.args,
                                  stacked_endpoints(outputs, call.num_examples))
        return result, delta
