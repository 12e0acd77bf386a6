"""Layer Feature Ablation: the output change when groups of a layer's neurons are ablated."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Union

import torch
from torch import Tensor, nn

from .._utils.feature_mask import format_feature_mask
from .._utils.inputs import expand_baselines, format_baselines
from .._utils.layer_capture import layer_activations, layer_replacing_evaluator
from .._utils.perturbation import ablation_attributions, plan_evaluation
from .._utils.prepare import prepare_call
from ..base import LayerAttribution, PerturbationAttribution, TensorOrTupleOfTensors
from ._common import check_flags, single_layer


class LayerFeatureAblation(LayerAttribution, PerturbationAttribution):
    r"""Ablation in a layer: each group g of the layer's neurons (``layer_mask``; default
    every neuron alone) is set to its baseline while the model runs on the inputs, and every
    neuron of g gets

    .. math:: a_j = F(x) - F(x \mid y_g \leftarrow y'_g),\quad g \ni j.

    Batching follows the shared perturbation engine (results never depend on it): with
    ``perturbations_per_eval`` left at 1 as many ablated copies as the memory budget allows
    share one forward pass; a value > 1 means exactly that many. Runs under no_grad.

    Args:
        forward_func: the model or any callable running it.
        layer: the module whose output (or input) is ablated.
        device_ids: device order for ``nn.DataParallel`` models.
    """

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[List[int]] = None) -> None:
        super().__init__(forward_func, single_layer(layer, "LayerFeatureAblation"), device_ids)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        layer_baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        layer_mask: Any = None,
        attribute_to_layer_input: bool = False,
        perturbations_per_eval: int = 1,
    ) -> Union[Tensor, tuple]:
        """Ablation attributions of the layer's neurons.

        Args:
            layer_baselines: the values ablated neurons take: None (0), a number, or a tensor
                shaped like the layer's output (input) or one example of it (a tuple for a
                layer with several tensors).
            layer_mask: integer tensor(s) grouping the layer's neurons (first dimension 1 or
                N, broadcastable to the layer's tensor); ids are shared across tensors.

        Returns:
            Shaped like the layer's output (input); a tuple for a layer with several tensors.
        """
        check_flags(attribute_to_layer_input=attribute_to_layer_input)
        call = prepare_call(inputs, target, additional_forward_args)
        with torch.no_grad():
            (record,), _ = layer_activations(self.forward_func, [self.layer], call.inputs,
                                             call.args, attribute_to_layer_input,
                                             self.device_ids)
            values = record.tensors
            baselines = expand_baselines(
                format_baselines(layer_baselines, values, "layer_baselines"), values)
            masks = format_feature_mask(layer_mask, values, "layer_mask")
            evaluate = layer_replacing_evaluator(
                self.forward_func, [self.layer], [len(values)], call.inputs, call.target,
                call.args, attribute_to_layer_input, self.device_ids)
            plan = plan_evaluation(evaluate, values, masks.n_groups, perturbations_per_eval,
                                   self.forward_func)
            attributions = ablation_attributions(evaluate, values, baselines, masks, plan)
        return record.restore(attributions)
