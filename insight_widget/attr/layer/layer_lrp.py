"""Layer LRP: relevance (layer-wise relevance propagation) of a layer's neurons."""

from __future__ import annotations

from typing import Any, List, Tuple, Union

from torch import Tensor, nn

from .._utils.hooks import resolve_modules
from .._utils.layer_capture import (
    LayerRecord,
    format_layer_result,
    layers_as_list,
    resolve_device_ids,
)
from .._utils.prepare import prepare_call
from .._utils.validation import check_bool, check_module
from ..base import InternalAttribution, LayerAttribution, TensorOrTupleOfTensors
from ..lrp._propagation import propagate_relevance
from ..lrp.lrp import LRP, relevance_delta


class LayerLRP(LRP, LayerAttribution):
    """LRP relevance at a layer: the relevance arriving at the layer's output (or leaving
    through its input, ``attribute_to_layer_input=True``) when the target output is
    propagated back with the layers' rules (see :class:`LRP`).

    The layer must have a propagation rule (not one of the pass-through ReLU/Dropout/Tanh).

    Args:
        model: the ``nn.Module`` to explain.
        layer: a module of the model, or a list of modules (one result per module).
    """

    def __init__(self, model: nn.Module, layer: Any) -> None:
        InternalAttribution.__init__(
            self, check_module("model", model, "LRP registers hooks on its layers"), layer, None)
        layers_as_list(layer)
        self.model = model

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        target: Any = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        verbose: bool = False,
    ) -> Union[Tensor, tuple, list, Tuple[Any, Union[Tensor, List[Tensor]]]]:
        """Relevance of the layer's neurons for the targeted output.

        Returns:
            Shaped like the layer's output (input; a tuple for several input tensors); a list
            for a list of layers. With the delta, ``(relevance, delta)`` where delta =
            F(x)[target] - sum(relevance) per example (a list of deltas for a list of layers).
        """
        check_bool("return_convergence_delta", return_convergence_delta)
        check_bool("attribute_to_layer_input", attribute_to_layer_input)
        check_bool("verbose", verbose)
        call = prepare_call(inputs, target, additional_forward_args, gradients_of="LayerLRP")
        layers, was_list = layers_as_list(self.layer)
        resolve_modules(self.model, layers)
        result = propagate_relevance(self.model, call.inputs, call.target, call.args,
                                     watched=layers, verbose=verbose,
                                     device_ids=resolve_device_ids(self.model, None))
        records = []
        for index, layer in enumerate(layers):
            records.append(self._record(layer, result.layers_at_input[index]
                                        if attribute_to_layer_input
                                        else result.layers_at_output[index],
                                        attribute_to_layer_input))
        relevance = format_layer_result(records, was_list)
        if not return_convergence_delta:
            return relevance
        deltas = [relevance_delta(r.tensors, result.output) for r in records]
        return relevance, (deltas if was_list else deltas[0])

    def _record(self, layer: nn.Module, value: Any, to_input: bool) -> LayerRecord:
        if value is None:
            name = next((n for n, m in self.model.named_modules() if m is layer), None)
            if name is None:
                raise ValueError(
                    f"`layer` {type(layer).__name__} is not part of the model "
                    f"({type(self.model).__name__})."
                )
            raise ValueError(
                f"`layer` '{name}' ({type(layer).__name__}) received no relevance: it did not run "
                "in the forward pass, is a pass-through layer (ReLU, Dropout, Tanh) without a "
                "propagation rule, or is a container module; choose a layer with a rule."
            )
        if to_input:
            return LayerRecord(tuple(value), len(value) > 1)
        return LayerRecord((value,), False)


__all__ = ["LayerLRP"]
