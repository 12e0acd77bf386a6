"""Neuron Integrated Gradients: Integrated Gradients of one neuron of a layer."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

import torch
from torch import Tensor, nn

from .._utils.inputs import (
    expand_additional_forward_args,
    expand_baselines,
    format_baselines,
    restore_format,
)
from .._utils.layer_autograd import neuron_gradients
from .._utils.neuron_selector import SelectorType
from .._utils.path import integrate_gradients, times_difference
from .._utils.prepare import prepare_call
from .._utils.quadrature import validate_rule
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
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: Optional[int] = None,
        attribute_to_neuron_input: bool = False,
    ) -> TensorOrTupleOfTensors:
        """Integrated Gradients of the selected neuron, shaped like ``inputs``; the model runs
        on n_steps x N rows (chunked by ``internal_batch_size`` or the memory budget)."""
        selector = prepare_neuron(neuron_selector, attribute_to_neuron_input)
        call = prepare_call(inputs, None, additional_forward_args,
                            gradients_of="NeuronIntegratedGradients")
        validate_rule(method, n_steps)
        check_optional_int("internal_batch_size", internal_batch_size, minimum=1)
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
