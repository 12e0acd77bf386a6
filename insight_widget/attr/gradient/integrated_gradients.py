"""Integrated Gradients (Sundararajan, Taly, Yan, ICML 2017)."""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple, Union

from torch import Tensor

from .._utils.forward import input_gradients
from .._utils.inputs import (
    expand_additional_forward_args,
    expand_baselines,
    format_baselines,
    restore_format,
)
from .._utils.path import integrate_gradients, times_difference
from .._utils.prepare import prepare_call
from .._utils.quadrature import validate_rule
from .._utils.validation import check_bool, check_optional_int
from ..base import (
    GradientAttribution,
    MultipliesByInputsOption,
    TensorOrTupleOfTensors,
    convergence_delta,
)


class IntegratedGradients(MultipliesByInputsOption, GradientAttribution):
    r"""Path integral of gradients from a baseline x' to the input x:

    .. math::
        IG_i(x) = (x_i - x'_i) \int_0^1 \frac{\partial F(x' + \alpha (x - x'))}{\partial x_i}
        d\alpha \approx (x_i - x'_i) \sum_{k=1}^{n} w_k
        \frac{\partial F(x' + \alpha_k (x - x'))}{\partial x_i}

    with the quadrature rule ``method`` (see ``quadrature``). Completeness:
    ``sum_i IG_i = F(x) - F(x')`` up to the quadrature error reported as convergence delta.

    Args:
        forward_func: the model or any callable returning the output tensor.
        multiply_by_inputs: multiply by (x - x') (global attribution, default) or return the
            path-averaged gradient (local attribution).
    """

    def __init__(self, forward_func: Callable[..., Any], multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func)
        self._set_multiply_by_inputs(multiply_by_inputs)

    def has_convergence_delta(self) -> bool:
        return True

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: Optional[int] = None,
        return_convergence_delta: bool = False,
    ) -> Union[TensorOrTupleOfTensors, Tuple[TensorOrTupleOfTensors, Tensor]]:
        """Integrated Gradients of the targeted output.

        Args:
            inputs: tensor or tuple of tensors, dim 0 = N examples.
            baselines: None (zeros), number, tensor (per example or one example), or a tuple.
            target: output index per example.
            additional_forward_args: extra model arguments (tensors are repeated per step).
            n_steps: number of quadrature nodes (the model runs on n_steps x N rows).
            method: "gausslegendre" (default), "riemann_left", "riemann_right",
                "riemann_middle" or "riemann_trapezoid".
            internal_batch_size: rows per forward/backward pass; None = a memory budget.
            return_convergence_delta: also return sum(attr) - (F(x) - F(x')) per example.

        Returns:
            Attributions shaped like ``inputs``; with the delta, ``(attributions, delta)``
            where delta has shape (N,).
        """
        call = prepare_call(inputs, target, additional_forward_args,
                            gradients_of="IntegratedGradients")
        check_bool("return_convergence_delta", return_convergence_delta)
        validate_rule(method, n_steps)
        check_optional_int("internal_batch_size", internal_batch_size, minimum=1)
        # Number baselines stay numbers: the path and the final product need no tensor of them.
        baselines_ = tuple(b.to(dtype=x.dtype, device=x.device) if isinstance(b, Tensor) else b
                           for b, x in zip(format_baselines(baselines, call.inputs), call.inputs))

        def gradient_fn(points: Tuple[Tensor, ...], steps: int):
            return input_gradients(self.forward_func, points, call.target.repeat(steps),
                                   expand_additional_forward_args(call.args, steps))

        integral = integrate_gradients(gradient_fn, call.inputs, baselines_, n_steps, method,
                                       internal_batch_size)
        attributions = integral.gradient_sums
        if self._multiply_by_inputs:
            attributions = times_difference(attributions, call.inputs, baselines_)
        result = restore_format(attributions, call.was_tuple)
        if not return_convergence_delta:
            return result
        delta = convergence_delta(self.forward_func, attributions,
                                  expand_baselines(baselines_, call.inputs), call.inputs,
                                  call.target, call.args, integral.endpoint_outputs)
        return result, delta
