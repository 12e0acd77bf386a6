"""Layer Activation: the values a layer computes (or receives) for the inputs."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Union

from torch import Tensor

from .._utils.layer_capture import LayerSpec, format_layer_result, layer_activations, layers_as_list
from .._utils.prepare import prepare_call
from ..base import LayerAttribution, TensorOrTupleOfTensors
from ._common import check_flags


class LayerActivation(LayerAttribution):
    """The activation of ``layer``: its output (or, with ``attribute_to_layer_input``, its
    input) for each example. Not an attribution of the output, but the quantity the other layer
    methods attribute to.

    Args:
        forward_func: the model or any callable running it.
        layer: a module of the model, or a list of modules (one result per module).
        device_ids: device order for models wrapped in ``nn.DataParallel`` (taken from the
            wrapper when it is the ``forward_func``).
    """

    def __init__(self, forward_func: Callable[..., Any], layer: LayerSpec,
                 device_ids: Optional[List[int]] = None) -> None:
        super().__init__(forward_func, layer, device_ids)

    @property
    def multiplies_by_inputs(self) -> bool:
        return True

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
    ) -> Union[Tensor, tuple, list]:
        """The layer's activations.

        Returns:
            Shaped like the layer's output (input): a tensor (N, ...), a tuple for a layer with
            several output tensors (input tensors), or a list with one such entry per layer
            when ``layer`` is a list.
        """
        check_flags(attribute_to_layer_input=attribute_to_layer_input)
        call = prepare_call(inputs, None, additional_forward_args)
        layers, was_list = layers_as_list(self.layer)
        records, _ = layer_activations(self.forward_func, layers, call.inputs, call.args,
                                       attribute_to_layer_input, self.device_ids)
        return format_layer_result(records, was_list)
