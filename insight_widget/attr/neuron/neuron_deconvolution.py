"""Neuron Deconvolution: Deconvolution (Zeiler & Fergus) of one neuron."""

from __future__ import annotations

from typing import List, Optional

from torch import nn

from ._modified_relu import ModifiedReluNeuronAttribution


class NeuronDeconvolution(ModifiedReluNeuronAttribution):
    r"""The gradient of the selected neuron w.r.t. the inputs with each ReLU passing back the
    rectified incoming gradient :math:`\max(0, g)` (regardless of its input).

    Args:
        model: the ``nn.Module`` to explain (hooks on its ``nn.ReLU`` modules).
        layer: the module containing the neuron.
        device_ids: device order for ``nn.DataParallel`` models.
    """

    rule = "deconvolution"

    def __init__(self, model: nn.Module, layer: nn.Module,
                 device_ids: Optional[List[int]] = None) -> None:
        super().__init__(model, layer, device_ids)
