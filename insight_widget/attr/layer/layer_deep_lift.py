"""Layer DeepLift: DeepLift (rescale rule) attributions to a layer's neurons."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from .._utils.deeplift_rules import deeplift_rules, rule_for
from .._utils.inputs import expand_additional_forward_args, expand_baselines, format_baselines
from .._utils.layer_autograd import check_grad_kwargs, layer_gradients
from .._utils.layer_capture import LayerRecord, layer_activations
from .._utils.prepare import prepare_call
from .._utils.target import Target
from .._utils.validation import check_bool
from ..base import LayerAttribution, TensorOrTupleOfTensors, convergence_delta
from ..gradient.deep_lift import (
    CustomAttributionFunc,
    DeepLift,
    check_custom_attribution_func,
    deeplift_attributions,
    stacked_endpoints,
)
from ._common import check_flags, single_layer


def layer_multipliers(
    model: nn.Module,
    layer: nn.Module,
    inputs: Tuple[Tensor, ...],
    baselines: Tuple[Tensor, ...],
    target: Target,
    args: Optional[Tuple[Any, ...]],
    attribute_to_layer_input: bool,
    eps: float,
    method: str,
    grad_kwargs: Optional[Dict[str, Any]] = None,
) -> Tuple[LayerRecord, LayerRecord, LayerRecord, Tensor]:
    """DeepLift multipliers of a layer's tensors from one pass over [inputs; baselines].

    Returns ``(multipliers, activations at the inputs, activations at the baselines,
    targeted outputs of all 2N rows)``; records hold N rows each.

    For the input of a layer that has a DeepLift rule itself (e.g. a ReLU), Captum's numbers
    pull the output multipliers back through the layer's *ordinary* derivative, not its rule
    (established by black-box comparison); that is reproduced here with one extra forward
    pass of the layer.
    """
    n = inputs[0].shape[0]
    own_rule = attribute_to_layer_input and rule_for(layer) is not None
    stacked_args = expand_additional_forward_args(args, 2)
    with deeplift_rules(model, eps, method), torch.enable_grad():
        # The stacked batch is built inside the graph, as the DeepLift rules require.
        leaves = tuple(x.detach().requires_grad_() for x in inputs)
        stacked = tuple(torch.cat([leaf, b.detach()]) for leaf, b in zip(leaves, baselines))
        result = layer_gradients(model, [layer], stacked, target.repeat(2), stacked_args,
                                 attribute_to_layer_input and not own_rule, None, grad_kwargs)
    grads, acts = result.gradients[0], result.activations[0]
    if own_rule:
        grads, acts = _through_ordinary_derivative(model, layer, stacked, stacked_args, grads)
    return (LayerRecord(tuple(g[:n] for g in grads.tensors), grads.is_tuple),
            LayerRecord(tuple(a[:n] for a in acts.tensors), acts.is_tuple),
            LayerRecord(tuple(a[n:] for a in acts.tensors), acts.is_tuple),
            result.output)


def _through_ordinary_derivative(
    model: nn.Module, layer: nn.Module, stacked: Tuple[Tensor, ...],
    args: Optional[Tuple[Any, ...]], output_gradients: LayerRecord,
) -> Tuple[LayerRecord, LayerRecord]:
    """(gradients, values) of ``layer``'s inputs given the gradients of its outputs, with the
    layer's ordinary derivative (a vector-Jacobian product on its recorded inputs)."""
    (record,), _ = layer_activations(model, [layer], tuple(s.detach() for s in stacked), args,
                                     attribute_to_layer_input=True)
    values = tuple(t.detach().requires_grad_() for t in record.tensors)
    with torch.enable_grad():
        outputs = layer(*values)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        grads = torch.autograd.grad(outputs, values, output_gradients.tensors,
                                    allow_unused=True)
    grads = tuple(torch.zeros_like(v) if g is None else g for g, v in zip(grads, values))
    return (LayerRecord(grads, record.is_tuple),
            LayerRecord(tuple(v.detach() for v in values), record.is_tuple))


class LayerDeepLift(LayerAttribution, DeepLift):
    r"""DeepLift (rescale rule) attributions to a layer: the DeepLift multipliers
    :math:`m_j` of the layer's neurons times their change between baseline and input,

    .. math:: a_j = m_j (y_j(x) - y_j(x')), \qquad \sum_j a_j = F(x) - F(x')

    (summation-to-delta, for networks of linear maps and supported non-linearities; see
    :class:`~insight_widget.attr.DeepLift` for the rules). Inputs and baselines run together in
    one forward+backward pass over 2N rows.

    Args:
        model: the ``nn.Module`` to explain.
        layer: the module whose output (or input) is explained.
        multiply_by_inputs: multiply by the layer's change (default) or return the multipliers.
    """

    def __init__(self, model: nn.Module, layer: nn.Module, multiply_by_inputs: bool = True
                 ) -> None:
        DeepLift.__init__(self, model, multiply_by_inputs=multiply_by_inputs)
        self.layer = single_layer(layer, type(self).__name__)
        self.device_ids = None

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        custom_attribution_func: Optional[CustomAttributionFunc] = None,
        grad_kwargs: Optional[Dict[str, Any]] = None,
    ) -> Union[Tensor, tuple, Tuple[Any, Tensor]]:
        """Layer DeepLift attributions, shaped like the layer's output (input); a tuple for a
        layer with several tensors. ``custom_attribution_func(multipliers[, layer values at
        the inputs[, at the baselines]])`` replaces the final product. With the delta,
        ``(attributions, delta)`` where delta = sum(attributions) - (F(x) - F(x')), (N,)."""
        check_flags(attribute_to_layer_input=attribute_to_layer_input)
        check_bool("return_convergence_delta", return_convergence_delta)
        call = prepare_call(inputs, target, additional_forward_args,
                            gradients_of=type(self).__name__)
        custom = check_custom_attribution_func(custom_attribution_func)
        baselines_ = expand_baselines(format_baselines(baselines, call.inputs), call.inputs)
        multipliers, at_x, at_b, outputs = layer_multipliers(
            self.model, self.layer, call.inputs, baselines_, call.target, call.args,
            attribute_to_layer_input, self.eps, type(self).__name__,
            check_grad_kwargs(grad_kwargs))
        attributions = deeplift_attributions(multipliers.tensors, at_x.tensors, at_b.tensors,
                                             self._multiply_by_inputs, custom)
        result = multipliers.restore(attributions)
        if not return_convergence_delta:
            return result
        delta = convergence_delta(self.model, attributions, baselines_, call.inputs,
                                  call.target, call.args,
                                  stacked_endpoints(outputs, call.num_examples))
        return result, delta
