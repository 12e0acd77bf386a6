"""Neuron Guided Backprop and Neuron Deconvolution: one neuron's gradient with the ReLU
gradient overrides of Guided Backprop / Deconvolution."""

from __future__ import annotations

from typing import Any, ClassVar, List, Optional

from torch import nn

from .._utils.inputs import restore_format
from .._utils.layer_autograd import neuron_gradients
from .._utils.neuron_selector import SelectorType
from .._utils.prepare import prepare_call
from .._utils.relu_overrides import OverrideRule, relu_gradient_override
from .._utils.validation import check_module
from ..base import GradientAttribution, NeuronAttribution, TensorOrTupleOfTensors
from ._common import prepare_neuron, single_layer


class ModifiedReluNeuronAttribution(NeuronAttribution, GradientAttribution):
    """The gradient of the selected neuron w.r.t. the inputs with every ``nn.ReLU``'s gradient
    replaced by ``rule`` (see ``insight_widget.attr._utils.relu_overrides``)."""

    rule: ClassVar[OverrideRule]

    def __init__(self, model: nn.Module, layer: nn.Module,
                 device_ids: Optional[List[int]] = None) -> None:
        check_module("model", model, "it installs hooks on the model's ReLU modules")
        super().__init__(model, single_layer(layer, type(self).__name__), device_ids)
        self.model = model

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        neuron_selector: SelectorType,
        additional_forward_args: Any = None,
        attribute_to_neuron_input: bool = False,
    ) -> TensorOrTupleOfTensors:
        """Modified gradients of the selected neuron, shaped like ``inputs``."""
        selector = prepare_neuron(neuron_selector, attribute_to_neuron_input)
        call = prepare_call(inputs, None, additional_forward_args,
                            gradients_of=type(self).__name__)
        with relu_gradient_override(self.model, self.rule, type(self).__name__):
            grads, _ = neuron_gradients(self.model, self.layer, call.inputs, call.args,
                                        selector, attribute_to_neuron_input, self.device_ids)
        return restore_format(grads, call.was_tuple)
