"""Layer-wise Relevance Propagation (Bach et al., PLOS ONE 2015)."""

from __future__ import annotations

from typing import Any, Tuple, Union

from torch import Tensor, nn

from .._utils.inputs import restore_format
from .._utils.layer_capture import resolve_device_ids
from .._utils.prepare import prepare_call
from .._utils.validation import check_bool, check_module
from ..base import GradientAttribution, TensorOrTupleOfTensors, summed_attributions
from ._propagation import propagate_relevance


def relevance_delta(relevance: Tuple[Tensor, ...], output: Tensor) -> Tensor:
    """Captum's LRP convergence delta: F(x)[target] - sum of relevance, per example (N,).

    Note the sign: the opposite of the Integrated Gradients delta. The delta is zero only when
    biases and epsilon absorb no relevance (bias-free layers, epsilon -> 0).
    """
    n = relevance[0].shape[0]
    total = summed_attributions(relevance, n)
    return (output.reshape(-1) if output.dim() > 0 else output) - total


class LRP(GradientAttribution):
    r"""Layer-wise relevance propagation: the output for the target is redistributed layer by
    layer down to the inputs, each layer following its rule (see ``lrp.rules``):

    .. math::
        R_i = a_i \sum_j \frac{w'_{ij}}{z'_j + \epsilon\,\mathrm{sign}(z'_j)} R_j

    Rules are assigned per layer by setting ``module.rule`` (e.g. ``GammaRule()``); without one,
    Captum's defaults apply (EpsilonRule for Linear, Conv2d, BatchNorm2d, pooling and
    Addition_Module; ReLU, Dropout and Tanh pass relevance through). Any other leaf module
    raises ``TypeError``. On bias-free ReLU networks with LRP-0 the result equals
    Input x Gradient.

    Deliberate difference from Captum: rules assigned by the user stay on the modules after the
    call (Captum deletes every ``rule`` attribute), and rule objects keep no per-call state.

    Args:
        model: the ``nn.Module`` to explain (hooks are registered on its leaf modules; every
            rule layer must run once per forward pass).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__(check_module("model", model, "LRP registers hooks on its layers"))
        self.model = model

    @property
    def multiplies_by_inputs(self) -> bool:
        return True

    def has_convergence_delta(self) -> bool:
        return True

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        target: Any = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        verbose: bool = False,
    ) -> Union[TensorOrTupleOfTensors, Tuple[TensorOrTupleOfTensors, Tensor]]:
        """Relevance of each input element for the targeted output.

        Args:
            verbose: print the rule applied to each layer.
            return_convergence_delta: also return F(x)[target] - sum(relevance) per example.

        Returns:
            Relevance shaped like ``inputs``; with the delta, ``(relevance, delta)``.
        """
        check_bool("return_convergence_delta", return_convergence_delta)
        check_bool("verbose", verbose)
        call = prepare_call(inputs, target, additional_forward_args, gradients_of="LRP")
        result = propagate_relevance(self.model, call.inputs, call.target, call.args,
                                     verbose=verbose,
                                     device_ids=resolve_device_ids(self.model, None))
        relevance = restore_format(result.inputs, call.was_tuple)
        if not return_convergence_delta:
            return relevance
        return relevance, relevance_delta(result.inputs, result.output)
