r"""LRP propagation rules: small objects, one per layer (``module.rule = GammaRule()``).

A rule describes how relevance R flows from a layer's output z = f(a; W, b) to its input a
(Montavon et al., "Layer-wise relevance propagation: an overview", 2019). Every rule here has
the generic form

.. math::
    R_i = a_i \sum_j \frac{\partial z'_j}{\partial a_i} \frac{R_j}{z'_j + \epsilon\,
    \mathrm{sign}(z'_j)}

where z' is the layer's output computed with weights transformed by the rule
(:meth:`PropagationRule._manipulate_weights`); for a linear layer
:math:`\partial z'_j / \partial a_i = w'_{ij}`, the textbook formula. The algorithm evaluates
this with one forward pass (transformed weights) and one backward pass in which each rule
layer divides the incoming relevance by the stabilised z' (output side) and multiplies the
outgoing gradient by its input a (input side).

* :class:`EpsilonRule` (LRP-epsilon; epsilon -> 0 is LRP-0): weights unchanged.
* :class:`GammaRule`: :math:`w' = w + \gamma w^+` (favours positive contributions).
* :class:`Alpha1_Beta0_Rule` (z+ / alpha=1, beta=0): :math:`w' = w^+`.
* :class:`IdentityRule`: relevance passes unchanged, :math:`R_i = R_i` (element-wise layers).

Biases are kept unless ``set_bias_to_zero=True``. :math:`\mathrm{sign}(0)` is taken as +1 so a
neuron with z' = 0 does not divide by zero. To write a rule, subclass :class:`PropagationRule`
and override :meth:`_manipulate_weights` (change the module's parameters in place; they are
restored after the attribution) and, if needed, :meth:`input_relevance`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor, nn

from .._utils.validation import check_bool, check_number


class PropagationRule(ABC):
    """Base class of LRP rules.

    ``STABILITY_FACTOR`` is the epsilon of rules that do not define their own.
    """

    STABILITY_FACTOR = 1e-9

    @property
    def stabilizer(self) -> float:
        """The epsilon added (with the sign of z') to each denominator."""
        return self.STABILITY_FACTOR

    def stabilize(self, z: Tensor) -> Tensor:
        """:math:`z + \\epsilon\\, \\mathrm{sign}(z)` with sign(0) = +1."""
        return z + self.stabilizer * torch.where(z >= 0, 1.0, -1.0).to(z.dtype)

    @abstractmethod
    def _manipulate_weights(self, module: nn.Module, inputs: Any, outputs: Any) -> None:
        """Transform ``module``'s parameters in place for the relevance pass (called right
        after the module ran with its original weights)."""

    def input_relevance(self, inputs: Tensor, gradient: Tensor, output_relevance: Tensor
                        ) -> Tensor:
        """Relevance of the layer input from the backpropagated ``gradient``
        (:math:`\\sum_j \\partial z'_j/\\partial a_i \\cdot R_j / z'_j`): multiply by the input."""
        return inputs * gradient

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class EpsilonRule(PropagationRule):
    """LRP-epsilon: :math:`R_i = \\sum_j a_i w_{ij} / (z_j + \\epsilon\\,\\mathrm{sign}(z_j)) R_j`.

    Args:
        epsilon: stabiliser added to the denominators (default 1e-9, as Captum); larger values
            absorb weak or contradictory relevance.
    """

    def __init__(self, epsilon: float = 1e-9) -> None:
        self.epsilon = check_number("epsilon", epsilon, minimum=0.0)

    @property
    def stabilizer(self) -> float:
        return self.epsilon

    def _manipulate_weights(self, module: nn.Module, inputs: Any, outputs: Any) -> None:
        return None


def _transform_weights(module: nn.Module, transform: Any, set_bias_to_zero: bool) -> None:
    weight = getattr(module, "weight", None)
    if isinstance(weight, Tensor):
        weight.data = transform(weight.data)
    bias = getattr(module, "bias", None)
    if set_bias_to_zero and isinstance(bias, Tensor):
        bias.data = torch.zeros_like(bias.data)


class GammaRule(PropagationRule):
    """LRP-gamma: weights :math:`w + \\gamma w^+`, favouring positive contributions.

    Args:
        gamma: weight of the positive part (default 0.25; gamma -> infinity approaches z+).
        set_bias_to_zero: drop the bias in the relevance pass.
    """

    def __init__(self, gamma: float = 0.25, set_bias_to_zero: bool = False) -> None:
        self.gamma = check_number("gamma", gamma)
        self.set_bias_to_zero = check_bool("set_bias_to_zero", set_bias_to_zero)

    def _manipulate_weights(self, module: nn.Module, inputs: Any, outputs: Any) -> None:
        _transform_weights(module, lambda w: w + self.gamma * w.clamp(min=0),
                           self.set_bias_to_zero)


class Alpha1_Beta0_Rule(PropagationRule):
    """LRP-alpha1-beta0 (z+): only positive weights :math:`w^+` carry relevance.

    Args:
        set_bias_to_zero: drop the bias in the relevance pass.
    """

    def __init__(self, set_bias_to_zero: bool = False) -> None:
        self.set_bias_to_zero = check_bool("set_bias_to_zero", set_bias_to_zero)

    def _manipulate_weights(self, module: nn.Module, inputs: Any, outputs: Any) -> None:
        _transform_weights(module, lambda w: w.clamp(min=0), self.set_bias_to_zero)


class IdentityRule(EpsilonRule):
    """Relevance passes through unchanged: :math:`R_{in} = R_{out}`, for element-wise layers
    (input and output of the same shape; a reshape such as ``nn.Flatten`` is allowed: the
    relevance takes the input's shape)."""

    def input_relevance(self, inputs: Tensor, gradient: Tensor, output_relevance: Tensor
                        ) -> Tensor:
        if output_relevance.numel() != inputs.numel():
            raise ValueError(
                "IdentityRule passes relevance unchanged, so the layer's input and output must "
                f"have the same number of elements; got input {tuple(inputs.shape)} and output "
                f"{tuple(output_relevance.shape)}."
            )
        return output_relevance.reshape(inputs.shape)


class Addition_Module(nn.Module):
    """``x1 + x2`` as a module, so LRP can split relevance between the summands (a functional
    ``+`` in ``forward`` would give each summand the full relevance)."""

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return x1 + x2


__all__ = [
    "Addition_Module",
    "Alpha1_Beta0_Rule",
    "EpsilonRule",
    "GammaRule",
    "IdentityRule",
    "PropagationRule",
]
