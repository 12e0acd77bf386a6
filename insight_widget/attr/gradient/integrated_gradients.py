"""Integrated Gradients (Sundararajan, Taly, Yan, ICML 2017)."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional, Tuple, Union

from torch import Tensor

from .._utils.anytime import (
    DEFAULT_DELTA_TOLERANCE,
    DEFAULT_STEP_BUDGET,
    AnytimePathIntegral,
    AnytimeResult,
    anytime_results,
    check_anytime_arguments,
    check_n_steps_form,
    is_auto,
    last_result,
    take_additional_forward_args,
)
from .._utils.forward import input_gradients
from .._utils.inputs import (
    expand_additional_forward_args,
    expand_baselines,
    path_baselines,
    restore_format,
)
from .._utils.path import check_path_arguments, integrate_gradients, times_difference
from .._utils.prepare import prepare_call
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

    **Anytime mode** (not in Captum): ``n_steps="auto"`` places nodes adaptively per example
    (nested Simpson panels refined where the local completeness error is largest, see
    ``_utils.anytime``) until :math:`|\delta| \le` ``delta_tolerance`` :math:`\cdot
    |F(x) - F(x')|` or ``step_budget`` nodes are spent; :meth:`attribute_progressive` yields
    the intermediate results. With an integer ``n_steps`` the numbers are Captum's.

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
        n_steps: Union[int, str] = 50,
        method: str = "gausslegendre",
        internal_batch_size: Optional[int] = None,
        return_convergence_delta: bool = False,
        *,
        delta_tolerance: float = DEFAULT_DELTA_TOLERANCE,
        step_budget: int = DEFAULT_STEP_BUDGET,
    ) -> Union[TensorOrTupleOfTensors, Tuple[TensorOrTupleOfTensors, Tensor]]:
        """Integrated Gradients of the targeted output.

        Args:
            inputs: tensor or tuple of tensors, dim 0 = N examples.
            baselines: None (zeros), number, tensor (per example or one example), or a tuple.
            target: output index per example.
            additional_forward_args: extra model arguments (tensors are repeated per step).
            n_steps: number of quadrature nodes (the model runs on n_steps x N rows), or
                "auto": refine per example until the delta meets ``delta_tolerance``.
            method: "gausslegendre" (default), "riemann_left", "riemann_right",
                "riemann_middle" or "riemann_trapezoid" (not used by ``n_steps="auto"``,
                which has its own adaptive rule).
            internal_batch_size: rows per forward/backward pass; None = a memory budget.
            return_convergence_delta: also return sum(attr) - (F(x) - F(x')) per example.
            delta_tolerance: ``n_steps="auto"`` only: stop an example once
                |delta| <= delta_tolerance * |F(x) - F(x')| (default 0.01).
            step_budget: ``n_steps="auto"`` only: at most this many gradient evaluations
                (path nodes) per example (default 256, at least 2).

        Returns:
            Attributions shaped like ``inputs``; with the delta, ``(attributions, delta)``
            where delta has shape (N,).
        """
        check_n_steps_form(n_steps)
        if is_auto(n_steps):
            final = last_result(self.attribute_progressive(
                inputs, baselines, target, additional_forward_args, delta_tolerance,
                step_budget, internal_batch_size))
            check_bool("return_convergence_delta", return_convergence_delta)
            return (final.attributions, final.delta) if return_convergence_delta \
                else final.attributions
        call = prepare_call(inputs, target, additional_forward_args,
                            gradients_of="IntegratedGradients")
        check_bool("return_convergence_delta", return_convergence_delta)
        check_path_arguments(method, n_steps, internal_batch_size)
        baselines_ = path_baselines(baselines, call.inputs)

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

    def attribute_progressive(
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        delta_tolerance: float = DEFAULT_DELTA_TOLERANCE,
        step_budget: int = DEFAULT_STEP_BUDGET,
        internal_batch_size: Optional[int] = None,
    ) -> Iterator[AnytimeResult]:
        """Anytime Integrated Gradients: yields an :class:`AnytimeResult` (attributions, delta
        (N,), steps (N,), converged (N,)) after each refinement round, the last one final.

        The first result comes after 3 nodes per example (2 if ``step_budget`` is 2); each
        round then refines the panels with the largest local completeness error of every
        example not yet converged, all examples' new nodes in one batched evaluation.
        Stopping the iteration early is cancelling: the last result stays valid (its
        ``converged`` flags say which examples met the tolerance).
        """
        call = prepare_call(inputs, target, additional_forward_args,
                            gradients_of="IntegratedGradients")
        tolerance, budget = check_anytime_arguments(delta_tolerance, step_budget)
        check_optional_int("internal_batch_size", internal_batch_size, minimum=1)
        baselines_ = path_baselines(baselines, call.inputs)
        n = call.num_examples

        def evaluator(examples: Tensor, points: Tuple[Tensor, ...]):
            return input_gradients(self.forward_func, points, call.target.take(examples),
                                   take_additional_forward_args(call.args, examples, n))

        integral = AnytimePathIntegral(evaluator, call.inputs, baselines_, tolerance, budget,
                                       internal_batch_size)

        def finish(sums: Tuple[Tensor, ...]):
            values = sums
            if self._multiply_by_inputs:
                values = times_difference(sums, call.inputs, baselines_)
            return restore_format(values, call.was_tuple), values

        def delta_of(values: Tuple[Tensor, ...]) -> Tensor:
            # The end nodes alpha = 0 and 1 are the baseline and the input: no extra pass.
            return convergence_delta(self.forward_func, values,
                                     expand_baselines(baselines_, call.inputs), call.inputs,
                                     call.target, call.args, integral.endpoint_outputs())

        return anytime_results(integral, finish, delta_of)
