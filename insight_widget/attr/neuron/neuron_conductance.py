"""Neuron Conductance (Dhamdhere, Sundararajan, Yan, ICLR 2019)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from .._utils.inputs import (
    expand_additional_forward_args,
    expand_baselines,
    format_baselines,
    restore_format,
)
from .._utils.layer_autograd import check_grad_kwargs, neuron_gradients
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


class NeuronConductance(MultipliesByInputsOption, NeuronAttribution, GradientAttribution):
    r"""How much of the targeted output flows from each input through one neuron :math:`y_s`:

    .. math::
        NC_i = (x_i - x'_i) \int_0^1 \frac{\partial F}{\partial y_s}
        \frac{\partial y_s}{\partial x_i}\big(x' + \alpha (x - x')\big) d\alpha

    approximated with the quadrature rule ``method`` (default **riemann_trapezoid**, as in
    Captum, whose trapezoid weights sum to (n-1)/n). Summed over the inputs it approximates the
    neuron's Layer Conductance. With slices in ``neuron_selector`` both factors are summed over
    the selected neurons.

    Args:
        forward_func: the model or any callable running it.
        layer: the module containing the neuron.
        device_ids: device order for ``nn.DataParallel`` models.
        multiply_by_inputs: multiply by (x - x') (default) or not.
    """

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[List[int]] = None, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func, single_layer(layer, "NeuronConductance"), device_ids)
        self._set_multiply_by_inputs(multiply_by_inputs)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        neuron_selector: SelectorType,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "riemann_trapezoid",
        internal_batch_size: Optional[int] = None,
        attribute_to_neuron_input: bool = False,
        grad_kwargs: Optional[Dict[str, Any]] = None,
    ) -> TensorOrTupleOfTensors:
        """Conductance of the selected neuron for each input feature, shaped like ``inputs``;
        the model runs on n_steps x N rows (one forward and two backward passes per chunk)."""
        selector = prepare_neuron(neuron_selector, attribute_to_neuron_input)
        call = prepare_call(inputs, target, additional_forward_args,
                            gradients_of="NeuronConductance")
        validate_rule(method, n_steps)
        check_optional_int("internal_batch_size", internal_batch_size, minimum=1)
        grad_kwargs = check_grad_kwargs(grad_kwargs)
        baselines_ = expand_baselines(format_baselines(baselines, call.inputs), call.inputs)

        def gradient_fn(points: Tuple[Tensor, ...], steps: int):
            grads, output_grad = neuron_gradients(
                self.forward_func, self.layer, points,
                expand_additional_forward_args(call.args, steps), selector,
                attribute_to_neuron_input, self.device_ids, call.target.repeat(steps),
                grad_kwargs)
            assert output_grad is not None
            return tuple(g * output_grad.reshape(-1, *([1] * (g.dim() - 1)))
                         if output_grad.dim() > 0 else g * output_grad for g in grads), \
                torch.zeros(())

        integral = integrate_gradients(gradient_fn, call.inputs, baselines_, n_steps, method,
                                       internal_batch_size)
        values = integral.gradient_sums
        if self._multiply_by_inputs:
            values = times_difference(values, call.inputs, baselines_)
        return restore_format(values, call.was_tuple)
