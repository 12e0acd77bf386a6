"""Guided Backpropagation (Springenberg, Dosovitskiy, Brox, Riedmiller, 2015)."""

from __future__ import annotations

from torch import nn

from ._modified_relu import ModifiedReluGradientAttribution


class GuidedBackprop(ModifiedReluGradientAttribution):
    r"""The gradient of the targeted output w.r.t. the inputs, with each ReLU passing back only
    positive gradient where its input was positive:
    :math:`\partial_{x} \leftarrow \max(0, 1[x > 0] \cdot g)`.

    ReLUs must be ``nn.ReLU`` modules (functional calls keep their ordinary gradient).

    Args:
        model: the ``nn.Module`` to explain (hooks are installed on its ReLU modules).
    """

    rule = "guided"

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
