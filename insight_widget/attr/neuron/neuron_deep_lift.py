"""Neuron DeepLift: DeepLift (rescale rule) attributions of one neuron to the inputs."""

from __future__ import annotations

from typing import Any, Optional, Tuple

from torch import Tensor, nn

from .._utils.deeplift_rules import deeplift_rules
from .._utils.inputs import (
    expand_additional_forward_args,
    expand_baselines,
    format_baselines,
    restore_format,
)
from .._utils.layer_autograd import neuron_gradients
from .._utils.neuron_selector import NeuronSelector, SelectorType
from .._utils.prepare import prepare_call
from .._utils.validation import check_module
from ..base import (
    GradientAttribution,
    MultipliesByInputsOption,
    NeuronAttribution,
    TensorOrTupleOfTensors,
)
from ..gradient.deep_lift import (
    CustomAttributionFunc,
    check_custom_attribution_func,
    deeplift_attributions,
)
from ._common import prepare_neuron, single_layer

DEEPLIFT_EPS = 1e-10


def neuron_multipliers(
    model: nn.Module,
    layer: nn.Module,
    inputs: Tuple[Tensor, ...],
    baselines: Tuple[Tensor, ...],
    args: Optional[Tuple[Any, ...]],
    selector: NeuronSelector,
    attribute_to_neuron_input: bool,
    method: str,
) -> Tuple[Tensor, ...]:
    """DeepLift multipliers of the selected neuron w.r.t. the inputs (N rows), from one pass
    over [inputs; baselines] under the DeepLift rules.

    The model continues with a copy of the layer's tensor (``protect``), so the rule of a
    module reading that tensor does not see the neuron's own gradient path: Captum's numbers
    (established by black-box comparison).
    """
    with deeplift_rules(model, DEEPLIFT_EPS, method):
        grads, _ = neuron_gradients(model, layer, inputs,
                                    expand_additional_forward_args(args, 2), selector,
                                    attribute_to_neuron_input, reference_rows=baselines,
                                    protect=True)
    return grads


class NeuronDeepLift(MultipliesByInputsOption, NeuronAttribution, GradientAttribution):
    r"""DeepLift (rescale rule) with the selected neuron :math:`y_s` as the output:

    .. math:: a_i = m_i (x_i - x'_i), \qquad \sum_i a_i = y_s(x) - y_s(x')

    for networks of linear maps and supported non-linearities (see
    :class:`~insight_widget.attr.DeepLift` for the rules). One forward+backward pass over the
    stacked 2N rows [inputs; baselines].

    Args:
        model: the ``nn.Module`` to explain.
        layer: the module containing the neuron.
        multiply_by_inputs: multiply by (x - x') (default) or return the multipliers.
    """

    def __init__(self, model: nn.Module, layer: nn.Module, multiply_by_inputs: bool = True
                 ) -> None:
        check_module("model", model, "DeepLift installs hooks on its non-linear modules")
        super().__init__(model, single_layer(layer, type(self).__name__))
        self.model = model
        self._set_multiply_by_inputs(multiply_by_inputs)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        neuron_selector: SelectorType,
        baselines: Any = None,
        additional_forward_args: Any = None,
        attribute_to_neuron_input: bool = False,
        custom_attribution_func: Optional[CustomAttributionFunc] = None,
    ) -> TensorOrTupleOfTensors:
        """DeepLift attributions of the selected neuron, shaped like ``inputs``
        (``custom_attribution_func`` as in :meth:`DeepLift.attribute`)."""
        selector = prepare_neuron(neuron_selector, attribute_to_neuron_input)
        call = prepare_call(inputs, None, additional_forward_args,
                            gradients_of=type(self).__name__)
        custom = check_custom_attribution_func(custom_attribution_func)
        baselines_ = expand_baselines(format_baselines(baselines, call.inputs), call.inputs)
        multipliers = neuron_multipliers(self.model, self.layer, call.inputs, baselines_,
                                         call.args, selector, attribute_to_neuron_input,
                                         type(self).__name__)
        attributions = deeplift_attributions(multipliers, call.inputs, baselines_,
                                             self._multiply_by_inputs, custom)
        return restore_format(attributions, call.was_tuple)
