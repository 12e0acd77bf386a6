"""Neuron DeepLiftShap: Neuron DeepLift averaged over reference examples."""

from __future__ import annotations

from typing import Any, Optional

from torch import nn

from .._utils.inputs import restore_format
from .._utils.neuron_selector import SelectorType
from .._utils.prepare import prepare_call
from .._utils.sampling import reference_distribution_pairs
from ..base import TensorOrTupleOfTensors
from ..gradient.deep_lift import (
    CustomAttributionFunc,
    check_custom_attribution_func,
    deeplift_attributions,
)
from ._common import prepare_neuron
from .neuron_deep_lift import NeuronDeepLift, neuron_multipliers


class NeuronDeepLiftShap(NeuronDeepLift):
    r"""The mean over B references :math:`x'_k` of Neuron DeepLift attributions:

    .. math:: a_i = \frac{1}{B} \sum_k m_i(x, x'_k) (x_i - x'_{k,i})

    All N*B (example, reference) pairs run in one DeepLift pass over 2*N*B rows.

    Args:
        model: the ``nn.Module`` to explain.
        layer: the module containing the neuron.
        multiply_by_inputs: as in :class:`NeuronDeepLift`.
    """

    def __init__(self, model: nn.Module, layer: nn.Module, multiply_by_inputs: bool = True
                 ) -> None:
        super().__init__(model, layer, multiply_by_inputs=multiply_by_inputs)

    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTupleOfTensors,
        neuron_selector: SelectorType,
        baselines: Any,
        additional_forward_args: Any = None,
        attribute_to_neuron_input: bool = False,
        custom_attribution_func: Optional[CustomAttributionFunc] = None,
    ) -> TensorOrTupleOfTensors:
        """DeepLiftShap attributions of the selected neuron, shaped like ``inputs``;
        ``baselines`` is the reference distribution (B >= 2 examples, or a callable)."""
        selector = prepare_neuron(neuron_selector, attribute_to_neuron_input)
        call = prepare_call(inputs, None, additional_forward_args,
                            gradients_of=type(self).__name__)
        custom = check_custom_attribution_func(custom_attribution_func)
        pairs = reference_distribution_pairs(baselines, call, inputs, "NeuronDeepLiftShap",
                                             "NeuronDeepLift")
        multipliers = neuron_multipliers(self.model, self.layer, pairs.inputs, pairs.baselines,
                                         pairs.args, selector, attribute_to_neuron_input,
                                         type(self).__name__)
        per_pair = deeplift_attributions(multipliers, pairs.inputs, pairs.baselines,
                                         self._multiply_by_inputs, custom)
        attributions = pairs.mean_per_example(per_pair)
        return restore_format(attributions, call.was_tuple)
