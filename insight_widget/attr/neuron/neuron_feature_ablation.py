"""Neuron Feature Ablation: how ablating input feature groups changes one neuron."""

from __future__ import annotations

from typing import Any, Callable, List, Optional

import torch
from torch import nn

from .._utils.feature_mask import format_feature_mask
from .._utils.inputs import expand_baselines, format_baselines, restore_format
from .._utils.layer_capture import neuron_evaluator
from .._utils.neuron_selector import SelectorType
from .._utils.perturbation import ablation_attributions, plan_evaluation
from .._utils.prepare import prepare_call
from ..base import NeuronAttribution, PerturbationAttribution, TensorOrTupleOfTensors
from ._common import prepare_neuron, single_layer


class NeuronFeatureAblation(NeuronAttribution, PerturbationAttribution):
    r"""Feature ablation with the selected neuron :math:`y_s` as the output: each input
    feature group g (``feature_mask``; default every scalar alone) is replaced by its baseline
    and every element of g gets

    .. math:: a_e = y_s(x) - y_s(x_{[g \leftarrow x']}),\quad g \ni e.

    Batching follows the shared perturbation engine (results never depend on it). Runs under
    no_grad.

    Args:
        forward_func: the model or any callable running it.
        layer: the module containing the neuron.
        device_ids: device order for ``nn.DataParallel`` models.
    """

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[List[int]] = None) -> None:
        super().__init__(forward_func, single_layer(layer, "NeuronFeatureAblation"),
                         device_ids)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        neuron_selector: SelectorType,
        baselines: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        attribute_to_neuron_input: bool = False,
        perturbations_per_eval: int = 1,
    ) -> TensorOrTupleOfTensors:
        """Ablation attributions of the selected neuron, shaped like ``inputs`` (see
        FeatureAblation for ``baselines`` and ``feature_mask``)."""
        selector = prepare_neuron(neuron_selector, attribute_to_neuron_input)
        call = prepare_call(inputs, None, additional_forward_args)
        baselines_ = expand_baselines(format_baselines(baselines, call.inputs), call.inputs)
        masks = format_feature_mask(feature_mask, call.inputs)
        evaluate = neuron_evaluator(self.forward_func, self.layer, selector, call.args,
                                    attribute_to_neuron_input, self.device_ids)
        with torch.no_grad():
            plan = plan_evaluation(evaluate, call.inputs, masks.n_groups, perturbations_per_eval,
                                   self.forward_func)
            attributions = ablation_attributions(evaluate, call.inputs, baselines_, masks, plan)
        return restore_format(attributions, call.was_tuple)
