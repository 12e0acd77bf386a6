"""Neuron Gradient: the gradient of one neuron of a layer w.r.t. the inputs."""

from __future__ import annotations

from typing import Any, Callable, List, Optional

from torch import nn

from .._utils.inputs import restore_format
from .._utils.layer_autograd import neuron_gradients
from .._utils.neuron_selector import SelectorType
from .._utils.prepare import prepare_call
from ..base import GradientAttribution, NeuronAttribution, TensorOrTupleOfTensors
from ._common import prepare_neuron, single_layer


class NeuronGradient(NeuronAttribution, GradientAttribution):
    r""":math:`\partial y_s / \partial x_i` for the neuron :math:`y_s` of ``layer`` chosen by
    ``neuron_selector`` (several neurons chosen with slices are summed).

    Args:
        forward_func: the model or any callable running it.
        layer: the module containing the neuron (its output, or its input with
            ``attribute_to_neuron_input=True``).
        device_ids: device order for ``nn.DataParallel`` models.
    """

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[List[int]] = None) -> None:
        super().__init__(forward_func, single_layer(layer, "NeuronGradient"), device_ids)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        neuron_selector: SelectorType,
        additional_forward_args: Any = None,
        attribute_to_neuron_input: bool = False,
    ) -> TensorOrTupleOfTensors:
        """Gradients of the selected neuron, shaped like ``inputs``.

        ``neuron_selector``: an int or tuple of ints/slices indexing the layer's non-batch
        dimensions, or a callable mapping the layer's tensor(s) to one value per example.
        """
        selector = prepare_neuron(neuron_selector, attribute_to_neuron_input)
        call = prepare_call(inputs, None, additional_forward_args, gradients_of="NeuronGradient")
        grads, _ = neuron_gradients(self.forward_func, self.layer, call.inputs, call.args,
                                    selector, attribute_to_neuron_input, self.device_ids)
        return restore_format(grads, call.was_tuple)
