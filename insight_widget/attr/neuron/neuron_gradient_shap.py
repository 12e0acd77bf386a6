"""Neuron GradientShap: expected gradients of one neuron."""

from __future__ import annotations

from typing import Any, Callable, List, Optional

from torch import nn

from .._utils.inputs import format_baseline_distribution, restore_format
from .._utils.layer_autograd import neuron_gradients
from .._utils.neuron_selector import SelectorType
from .._utils.path import times_difference
from .._utils.prepare import prepare_call
from .._utils.sampling import check_stdevs, gradient_shap_rows, sum_over_samples
from .._utils.validation import check_int
from ..base import (
    GradientAttribution,
    MultipliesByInputsOption,
    NeuronAttribution,
    TensorOrTupleOfTensors,
)
from ._common import prepare_neuron, single_layer


class NeuronGradientShap(MultipliesByInputsOption, NeuronAttribution, GradientAttribution):
    r"""GradientShap with the selected neuron :math:`y_s` as the output: ``n_samples`` random
    rows per example (noisy input, reference drawn from ``baselines``, uniform path point c),

    .. math:: a_i = \frac{1}{S} \sum_s \frac{\partial y_s}{\partial x_i}(x'_s + c_s
        (\tilde x_s - x'_s)) \, (\tilde x_{s,i} - x'_{s,i}).

    Random draws follow Captum's order, so seeded runs match Captum.

    Args:
        forward_func: the model or any callable running it.
        layer: the module containing the neuron.
        device_ids: device order for ``nn.DataParallel`` models.
        multiply_by_inputs: multiply by (noisy input - reference) (default) or not.
    """

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[List[int]] = None, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func, single_layer(layer, "NeuronGradientShap"), device_ids)
        self._set_multiply_by_inputs(multiply_by_inputs)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        neuron_selector: SelectorType,
        baselines: Any,
        n_samples: int = 5,
        stdevs: float = 0.0,
        additional_forward_args: Any = None,
        attribute_to_neuron_input: bool = False,
    ) -> TensorOrTupleOfTensors:
        """GradientShap attributions of the selected neuron, shaped like ``inputs``."""
        selector = prepare_neuron(neuron_selector, attribute_to_neuron_input)
        call = prepare_call(inputs, None, additional_forward_args,
                            gradients_of="NeuronGradientShap")
        n_samples = check_int("n_samples", n_samples, minimum=1)
        stdevs_ = check_stdevs(stdevs, len(call.inputs))
        distribution = format_baseline_distribution(baselines, call.inputs, inputs,
                                                    same_count=False)
        rows = gradient_shap_rows(call.inputs, distribution, n_samples, stdevs_, call.target,
                                  call.args)
        noisy, references, points, _, args_rows = rows.chunk(0, rows.rows)
        grads, _ = neuron_gradients(self.forward_func, self.layer, points, args_rows, selector,
                                    attribute_to_neuron_input, self.device_ids)
        if self._multiply_by_inputs:
            grads = times_difference(grads, noisy, references)
        attributions = tuple(sum_over_samples(g, call.num_examples) / n_samples for g in grads)
        return restore_format(attributions, call.was_tuple)
