"""Shared base of Guided Backprop and Deconvolution: gradients with ReLU overrides."""

from __future__ import annotations

from typing import Any

from torch import nn

from .._utils.forward import input_gradients
from .._utils.inputs import restore_format
from .._utils.prepare import prepare_call
from .._utils.relu_overrides import OverrideRule, relu_gradient_override
from .._utils.validation import check_module
from ..base import GradientAttribution, TensorOrTupleOfTensors


class ModifiedReluGradientAttribution(GradientAttribution):
    """Gradient of the targeted output w.r.t. the inputs with every ``nn.ReLU``'s gradient
    replaced by ``rule`` (see ``insight_widget.attr._utils.relu_overrides``)."""

    rule: OverrideRule

    def __init__(self, model: nn.Module) -> None:
        check_module("model", model,
                     f"{type(self).__name__} installs hooks on its ReLU modules")
        super().__init__(model)
        self.model = model

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        target: Any = None,
        additional_forward_args: Any = None,
    ) -> TensorOrTupleOfTensors:
        """Modified gradients, with the shape(s) of ``inputs`` (N, ...).

        Args:
            inputs: tensor or tuple of tensors, dim 0 = N examples.
            target: output index per example (int, tuple, tensor, list).
            additional_forward_args: extra arguments passed to the model after the inputs.
        """
        name = type(self).__name__
        call = prepare_call(inputs, target, additional_forward_args, gradients_of=name)
        with relu_gradient_override(self.model, self.rule, name):
            grads, _ = input_gradients(self.model, call.inputs, call.target, call.args)
        return restore_format(grads, call.was_tuple)
