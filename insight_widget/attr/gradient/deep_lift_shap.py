"""DeepLiftShap: DeepLift averaged over a distribution of baselines (Lundberg & Lee, 2017)."""

from __future__ import annotations

from typing import Any, Optional, Tuple, Union

from torch import Tensor, nn

from .._utils.inputs import restore_format
from .._utils.prepare import prepare_call
from .._utils.sampling import reference_distribution_pairs
from .._utils.validation import check_bool
from ..base import TensorOrTupleOfTensors, convergence_delta
from .deep_lift import (
    CustomAttributionFunc,
    DeepLift,
    check_custom_attribution_func,
    deeplift_attributions,
    deeplift_multipliers,
    stacked_endpoints,
)


class DeepLiftShap(DeepLift):
    r"""SHAP values approximated with DeepLift: the mean over B references :math:`x'_j` of the
    DeepLift attributions of x against :math:`x'_j`,

    .. math:: a_i = \frac{1}{B} \sum_{j=1}^{B} m_i(x, x'_j) (x_i - x'_{j,i}),

    so :math:`\sum_i a_i = F(x) - \frac{1}{B}\sum_j F(x'_j)` up to the per-pair deltas. All N*B
    (input, reference) pairs run in one DeepLift pass over 2*N*B rows (pairs example-major).

    Args:
        model: the ``nn.Module`` to explain.
        multiply_by_inputs: as in :class:`DeepLift`.
    """

    def __init__(self, model: nn.Module, multiply_by_inputs: bool = True) -> None:
        super().__init__(model, multiply_by_inputs=multiply_by_inputs)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any,
        target: Any = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        custom_attribution_func: Optional[CustomAttributionFunc] = None,
    ) -> Union[TensorOrTupleOfTensors, Tuple[TensorOrTupleOfTensors, Tensor]]:
        """DeepLiftShap attributions of the targeted output.

        Args:
            inputs: tensor or tuple of tensors, dim 0 = N examples.
            baselines: the reference distribution: a tensor (B, ...) per input with B >= 2
                examples shaped like one input example, a tuple of those, or a callable
                returning them (called with no argument or with ``inputs``).
            target, additional_forward_args, custom_attribution_func: as in
                :meth:`DeepLift.attribute`.
            return_convergence_delta: also return the delta of every (example, reference)
                pair, shape (N*B,), ordered by example then reference.

        Returns:
            Attributions shaped like ``inputs``; with the delta, ``(attributions, delta)``.
        """
        call = prepare_call(inputs, target, additional_forward_args,
                            gradients_of="DeepLiftShap")
        check_bool("return_convergence_delta", return_convergence_delta)
        custom = check_custom_attribution_func(custom_attribution_func)
        pairs = reference_distribution_pairs(baselines, call, inputs, "DeepLiftShap",
                                             "DeepLift")
        multipliers, outputs = deeplift_multipliers(self.model, pairs.inputs, pairs.baselines,
                                                    pairs.target, pairs.args, self.eps,
                                                    type(self).__name__)
        per_pair = deeplift_attributions(multipliers, pairs.inputs, pairs.baselines,
                                         self._multiply_by_inputs, custom)
        attributions = pairs.mean_per_example(per_pair)
        result = restore_format(attributions, call.was_tuple)
        if not return_convergence_delta:
            return result
        delta = convergence_delta(self.model, per_pair, pairs.baselines, pairs.inputs,
                                  pairs.target, pairs.args, stacked_endpoints(outputs, pairs.rows))
        return result, delta
