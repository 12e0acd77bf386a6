"""Layer Feature Permutation: the output change when groups of a layer's neurons are shuffled
across the batch."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Union

import torch
from torch import Tensor, nn

from .._utils.feature_mask import format_feature_mask
from .._utils.layer_capture import layer_activations, layer_replacing_evaluator
from .._utils.perturbation import ablation_attributions, plan_evaluation
from .._utils.prepare import prepare_call
from ..base import LayerAttribution, TensorOrTupleOfTensors
from ..perturbation.feature_permutation import FeaturePermutation
from ._common import single_layer


class LayerFeaturePermutation(LayerAttribution, FeaturePermutation):
    r"""Permutation importance in a layer: each group g of the layer's output neurons
    (``layer_mask``; default every neuron alone) is shuffled across the examples of the batch,
    and every neuron of g gets

    .. math:: a_{r,j} = F(x)_r - F(x \mid y_g \leftarrow \pi_g(y_g))_r,\quad g \ni j.

    Needs at least 2 examples; random permutations are drawn in Captum's order (group by
    group), so seeded runs match Captum's with ``perturbations_per_eval`` = 1. The
    permutation is ``self.perm_func`` (FeaturePermutation's default).

    Args:
        forward_func: the model or any callable running it.
        layer: the module whose output is permuted.
        device_ids: device order for ``nn.DataParallel`` models.
    """

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[List[int]] = None) -> None:
        super().__init__(forward_func, single_layer(layer, "LayerFeaturePermutation"),
                         device_ids)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        target: Any = None,
        additional_forward_args: Any = None,
        layer_mask: Any = None,
        perturbations_per_eval: int = 1,
    ) -> Union[Tensor, tuple]:
        """Permutation attributions of the layer's neurons, shaped like the layer's output
        (a tuple for a layer with several tensors)."""
        call = prepare_call(inputs, target, additional_forward_args)
        if call.num_examples < 2:
            raise ValueError(
                "LayerFeaturePermutation permutes neurons across the examples of the batch, so "
                f"`inputs` must hold at least 2 examples (dim 0); got {call.num_examples}."
            )
        with torch.no_grad():
            (record,), _ = layer_activations(self.forward_func, [self.layer], call.inputs,
                                             call.args, False, self.device_ids)
            values = record.tensors
            masks = format_feature_mask(layer_mask, values, "layer_mask")
            evaluate = layer_replacing_evaluator(
                self.forward_func, [self.layer], [len(values)], call.inputs, call.target,
                call.args, False, self.device_ids)
            plan = plan_evaluation(evaluate, values, masks.n_groups, perturbations_per_eval,
                                   self.forward_func)
            attributions = ablation_attributions(
                evaluate, values, None, masks, plan,
                perturb=lambda _index, value, selected: self.perm_func(value, selected),
                groups_per_build=perturbations_per_eval)
        return record.restore(attributions)
