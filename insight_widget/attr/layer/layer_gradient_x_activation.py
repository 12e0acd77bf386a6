"""Layer Gradient x Activation: gradient of the output w.r.t. a layer, times the layer."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Union

from torch import Tensor

from .._utils.layer_autograd import check_grad_kwargs, layer_gradients
from .._utils.layer_capture import LayerRecord, LayerSpec, format_layer_result, layers_as_list
from .._utils.prepare import prepare_call
from .._utils.validation import check_bool
from ..base import (
    GradientAttribution,
    LayerAttribution,
    MultipliesByInputsOption,
    TensorOrTupleOfTensors,
)
from ._common import check_flags


class LayerGradientXActivation(MultipliesByInputsOption, LayerAttribution, GradientAttribution):
    r"""Element-wise product of a layer's activation and the gradient of the target output
    w.r.t. it:

    .. math:: a_j = y_j \cdot \partial F / \partial y_j

    where y is the layer's output (or input, ``attribute_to_layer_input=True``). For a layer
    followed by a linear head, :math:`\sum_j a_j = F(x) - \text{bias}`.

    Args:
        forward_func: the model or any callable running it.
        layer: a module of the model, or a list of modules (one result per module, all from one
            forward and one backward pass).
        device_ids: device order for ``nn.DataParallel`` models.
        multiply_by_inputs: multiply by the activation (default) or return the gradient only.
        memory_efficient: move activations and gradients to the CPU as soon as they are
            computed (for large layers on an accelerator; no effect on CPU).
    """

    def __init__(self, forward_func: Callable[..., Any], layer: LayerSpec,
                 device_ids: Optional[List[int]] = None, multiply_by_inputs: bool = True,
                 memory_efficient: bool = False) -> None:
        super().__init__(forward_func, layer, device_ids)
        self._set_multiply_by_inputs(multiply_by_inputs)
        self.memory_efficient = check_bool("memory_efficient", memory_efficient)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        target: Any = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        grad_kwargs: Optional[Dict[str, Any]] = None,
    ) -> Union[Tensor, tuple, list]:
        """Gradient x activation of the layer(s) for the targeted output.

        Returns:
            Shaped like the layer's output (input); a tuple for multi-tensor layers; a list
            (one entry per layer) when ``layer`` is a list.
        """
        check_flags(attribute_to_layer_input=attribute_to_layer_input)
        call = prepare_call(inputs, target, additional_forward_args)
        layers, was_list = layers_as_list(self.layer)
        result = layer_gradients(self.forward_func, layers, call.inputs, call.target, call.args,
                                 attribute_to_layer_input, self.device_ids,
                                 check_grad_kwargs(grad_kwargs))
        records = []
        for grads, acts in zip(result.gradients, result.activations):
            if self.memory_efficient:
                grads = LayerRecord(tuple(g.cpu() for g in grads.tensors), grads.is_tuple)
                acts = LayerRecord(tuple(a.cpu() for a in acts.tensors), acts.is_tuple)
            values = (tuple(g * a for g, a in zip(grads.tensors, acts.tensors))
                      if self._multiply_by_inputs else grads.tensors)
            records.append(LayerRecord(values, grads.is_tuple))
        return format_layer_result(records, was_list)
