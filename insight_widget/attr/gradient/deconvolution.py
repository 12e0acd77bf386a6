"""Deconvolution (Zeiler & Fergus, ECCV 2014)."""

from __future__ import annotations

from torch import nn

from ._modified_relu import ModifiedReluGradientAttribution


class Deconvolution(ModifiedReluGradientAttribution):
    r"""The gradient of the targeted output w.r.t. the inputs, with each ReLU passing back the
    rectified incoming gradient regardless of its input's sign:
    :math:`\partial_{x} \leftarrow \max(0, g)`.

    ReLUs must be ``nn.ReLU`` modules (functional calls keep their ordinary gradient).

    Args:
        model: the ``nn.Module`` to explain (hooks are installed on its ReLU modules).
    """

    rule = "deconvolution"

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
