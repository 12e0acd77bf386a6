"""Neuron Integrated Gradients: Integrated Gradients of one neuron of a layer."""

from __future__ import annotations

from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

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
from .._utils.inputs import (
    expand_additional_forward_args,
    expand_baselines,
    format_baselines,
    restore_format,
)
from .._utils.layer_autograd import neuron_gradients
from .._utils.neuron_selector import SelectorType
from .._utils.path import check_path_arguments, integrate_gradients, times_difference
from .._utils.prepare import prepare_call
from .._utils.validation import check_optional_int
from ..base import (
    GradientAttribution,
    MultipliesByInputsOption,
    NeuronAttribution,
    TensorOrTupleOfTensors,
)
from ._common import prepare_neuron, single_layer


class NeuronIntegratedGradients(MultipliesByInputsOption, NeuronAttribution, GradientAttribution):
    r"""Integrated Gradients with the selected neuron :math:`y_s` as the output:

    .. math::
        NIG_i = (x_i - x'_i) \sum_k w_k
        \frac{\partial y_s}{\partial x_i}\big(x' + \alpha_k (x - x')\big)

    ``n_steps="auto"`` (not in Captum) refines adaptively per example until the completeness
    error w.r.t. the neuron, :math:`|\sum_i NIG_i - (y_s(x) - y_s(x'))|`, is at most
    ``delta_tolerance`` :math:`\cdot |y_s(x) - y_s(x')|` or ``step_budget`` nodes are spent.

    Args:
        forward_func: the model or any callable running it.
        layer: the module containing the neuron.
        device_ids: device order for ``nn.DataParallel`` models.
        multiply_by_inputs: multiply by (x - x') (default) or return the path-averaged gradient.
    """

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[List[int]] = None, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func, single_layer(layer, "NeuronIntegratedGradients"),
                         device_ids)
        self._set_multiply_by_inputs(multiply_by_inputs)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        neuron_selector: SelectorType,
        baselines: Any = None,
        additional_forward_args: Any = None,
        n_steps: Union[int, str] = 50,
        method: str = "gausslegendre",
        internal_batch_size: Optional[int] = None,
        attribute_to_neuron_input: bool = False,
        *,
        delta_tolerance: float = DEFAULT_DELTA_TOLERANCE,
        step_budget: int = DEFAULT_STEP_BUDGET,
    ) -> TensorOrTupleOfTensors:
        """Integrated Gradients of the selected neuron, shaped like ``inputs``; the model runs
        on n_steps x N rows (chunked by ``internal_batch_size`` or the memory budget), or,
        with ``n_steps="auto"``, on as many as the tolerance needs."""
        check_n_steps_form(n_steps)
        if is_auto(n_steps):
            return last_result(self.attribute_progressive(
                inputs, neuron_selector, baselines, additional_forward_args, delta_tolerance,
                step_budget, internal_batch_size, attribute_to_neuron_input)).attributions
        selector = prepare_neuron(neuron_selector, attribute_to_neuron_input)
        call = prepare_call(inputs, None, additional_forward_args,
                            gradients_of="NeuronIntegratedGradients")
        check_path_arguments(method, n_steps, internal_batch_size)
        baselines_ = expand_baselines(format_baselines(baselines, call.inputs), call.inputs)

        def gradient_fn(points: Tuple[Tensor, ...], steps: int):
            grads, _ = neuron_gradients(self.forward_func, self.layer, points,
                                        expand_additional_forward_args(call.args, steps),
                                        selector, attribute_to_neuron_input, self.device_ids)
            return grads, torch.zeros(())

        integral = integrate_gradients(gradient_fn, call.inputs, baselines_, n_steps, method,
                                       internal_batch_size)
        values = integral.gradient_sums
        if self._multiply_by_inputs:
            values = times_difference(values, call.inputs, baselines_)
        return restore_format(values, call.was_tuple)

    def attribute_progressive(
        self,
        inputs: TensorOrTupleOfTensors,
        neuron_selector: SelectorType,
        baselines: Any = None,
        additional_forward_args: Any = None,
        delta_tolerance: float = DEFAULT_DELTA_TOLERANCE,
        step_budget: int = DEFAULT_STEP_BUDGET,
        internal_batch_size: Optional[int] = None,
        attribute_to_neuron_input: bool = False,
    ) -> Iterator[AnytimeResult]:
        """Anytime Neuron Integrated Gradients: an :class:`AnytimeResult` per refinement round;
        ``delta`` is the completeness error w.r.t. the neuron (see the class docstring)."""
        selector = prepare_neuron(neuron_selector, attribute_to_neuron_input)
        call = prepare_call(inputs, None, additional_forward_args,
                            gradients_of="NeuronIntegratedGradients")
        tolerance, budget = check_anytime_arguments(delta_tolerance, step_budget)
        check_optional_int("internal_batch_size", internal_batch_size, minimum=1)
        baselines_ = expand_baselines(format_baselines(baselines, call.inputs), call.inputs)
        n = call.num_examples

        def evaluator(examples: Tensor, points: Tuple[Tensor, ...]):
            values: List[Tensor] = []
            grads, _ = neuron_gradients(self.forward_func, self.layer, points,
                                        take_additional_forward_args(call.args, examples, n),
                                        selector, attribute_to_neuron_input, self.device_ids,
                                        neuron_values=values)
            return grads, values[0]

        integral = AnytimePathIntegral(evaluator, call.inputs, baselines_, tolerance, budget,
                                       internal_batch_size)

        def finish(sums: Tuple[Tensor, ...]):
            values = sums
            if self._multiply_by_inputs:
                values = times_difference(sums, call.inputs, baselines_)
            return restore_format(values, call.was_tuple), values

        def delta_of(values: Tuple[Tensor, ...]) -> Tensor:
            f0, f1 = integral.endpoint_outputs()
            total = sum(v.reshape(n, -1).sum(1) for v in values)
            return total - (f1 - f0).to(total.dtype)

        return anytime_results(integral, finish, delta_of)
