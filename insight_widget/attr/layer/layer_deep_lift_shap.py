"""Layer DeepLiftShap: DeepLift attributions to a layer, averaged over reference examples."""

from __future__ import annotations

from typing import Any, Optional, Tuple, Union

from torch import Tensor, nn

from .._utils.prepare import prepare_call
from .._utils.sampling import reference_distribution_pairs
from .._utils.validation import check_bool
from ..base import TensorOrTupleOfTensors, convergence_delta
from ..gradient.deep_lift import (
    CustomAttributionFunc,
    check_custom_attribution_func,
    deeplift_attributions,
    stacked_endpoints,
)
from ..gradient.deep_lift_shap import DeepLiftShap
from ._common import check_flags
from .layer_deep_lift import LayerDeepLift, layer_multipliers


class LayerDeepLiftShap(LayerDeepLift, DeepLiftShap):
    r"""The mean over B references :math:`x'_k` of Layer DeepLift attributions:

    .. math:: a_j = \frac{1}{B} \sum_k m_j(x, x'_k) (y_j(x) - y_j(x'_k))

    All N*B (example, reference) pairs run in one DeepLift pass over 2*N*B rows.

    Args:
        model: the ``nn.Module`` to explain.
        layer: the module whose output (or input) is explained.
        multiply_by_inputs: as in :class:`LayerDeepLift`.
    """

    def __init__(self, model: nn.Module, layer: nn.Module, multiply_by_inputs: bool = True
                 ) -> None:
        LayerDeepLift.__init__(self, model, layer, multiply_by_inputs=multiply_by_inputs)

    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any,
        target: Any = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        custom_attribution_func: Optional[CustomAttributionFunc] = None,
    ) -> Union[Tensor, tuple, Tuple[Any, Tensor]]:
        """Layer DeepLiftShap attributions, shaped like the layer's output (input).

        ``baselines``: the reference distribution (B >= 2 examples per input, or a callable
        returning them). With the delta, ``(attributions, delta)`` where delta has one entry
        per (example, reference) pair, shape (N*B,), example-major.
        """
        check_flags(attribute_to_layer_input=attribute_to_layer_input)
        check_bool("return_convergence_delta", return_convergence_delta)
        call = prepare_call(inputs, target, additional_forward_args,
                            gradients_of=type(self).__name__)
        custom = check_custom_attribution_func(custom_attribution_func)
        pairs = reference_distribution_pairs(baselines, call, inputs, "LayerDeepLiftShap",
                                             "LayerDeepLift")
        multipliers, at_x, at_b, outputs = layer_multipliers(
            self.model, self.layer, pairs.inputs, pairs.baselines, pairs.target, pairs.args,
            attribute_to_layer_input, self.eps, type(self).__name__)
        per_pair = deeplift_attributions(multipliers.tensors, at_x.tensors, at_b.tensors,
                                         self._multiply_by_inputs, custom)
        attributions = pairs.mean_per_example(per_pair)
        result = multipliers.restore(attributions)
        if not return_convergence_delta:
            return result
        delta = convergence_delta(self.model, per_pair, pairs.baselines, pairs.inputs,
                                  pairs.target, pairs.args, stacked_endpoints(outputs, pairs.rows))
        return result, delta
