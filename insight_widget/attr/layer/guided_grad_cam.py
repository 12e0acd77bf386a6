"""Guided Grad-CAM (Selvaraju et al., ICCV 2017): Guided Backprop times upsampled Grad-CAM."""

from __future__ import annotations

import warnings
from typing import Any, List, Optional

import torch
from torch import nn

from .._utils.forward import input_gradients
from .._utils.inputs import restore_format
from .._utils.prepare import prepare_call
from .._utils.relu_overrides import relu_gradient_override
from .._utils.validation import check_bool, check_choice, check_module
from ..base import GradientAttribution, LayerAttribution, TensorOrTupleOfTensors
from .grad_cam import LayerGradCam

INTERPOLATE_MODES = ["nearest", "linear", "bilinear", "bicubic", "trilinear", "area",
                     "nearest-exact"]


class GuidedGradCam(GradientAttribution):
    r"""Guided Grad-CAM: the element-wise product of Guided Backprop attributions and the
    non-negative Grad-CAM map of ``layer`` upsampled to the input's size,

    .. math:: a = \mathrm{GuidedBackprop}(x) \odot \mathrm{up}(\mathrm{ReLU}(L_{GradCAM}))

    Each input with as many dimensions as the layer's map (e.g. images (N, C, H, W) for a
    convolutional layer) gets this product; for other inputs the map cannot be upsampled, so,
    as in Captum, their attribution is an empty tensor and a warning says so.

    Args:
        model: the ``nn.Module`` to explain (Guided Backprop hooks its ReLU modules).
        layer: the layer whose Grad-CAM map is used (usually the last convolution).
        device_ids: device order for ``nn.DataParallel`` models.
    """

    def __init__(self, model: nn.Module, layer: nn.Module,
                 device_ids: Optional[List[int]] = None) -> None:
        check_module("model", model, "Guided Backprop installs hooks on its ReLU modules")
        super().__init__(model)
        self.model = model
        self.grad_cam = LayerGradCam(model, layer, device_ids)

    @property
    def layer(self) -> nn.Module:
        return self.grad_cam.layer

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        target: Any = None,
        additional_forward_args: Any = None,
        interpolate_mode: str = "nearest",
        attribute_to_layer_input: bool = False,
    ) -> TensorOrTupleOfTensors:
        """Guided Grad-CAM attributions shaped like ``inputs`` (empty tensors for inputs whose
        number of dimensions differs from the layer map's).

        Args:
            interpolate_mode: ``torch.nn.functional.interpolate`` mode for upsampling the map.
            attribute_to_layer_input: Grad-CAM of the layer's input instead of its output.
        """
        check_choice("interpolate_mode", interpolate_mode, INTERPOLATE_MODES)
        check_bool("attribute_to_layer_input", attribute_to_layer_input)
        call = prepare_call(inputs, target, additional_forward_args,
                            gradients_of="GuidedGradCam")
        cam = self.grad_cam.attribute(call.inputs, target=call.target, additional_forward_args=
                                      call.args, attribute_to_layer_input=attribute_to_layer_input,
                                      relu_attributions=True)
        if isinstance(cam, tuple):
            raise ValueError(
                "GuidedGradCam needs a layer with one output tensor; the layer produces "
                f"{len(cam)} tensors."
            )
        with relu_gradient_override(self.model, "guided", "GuidedGradCam"):
            guided, _ = input_gradients(self.model, call.inputs, call.target, call.args)
        results = []
        skipped = False
        for value in guided:
            if value.dim() != cam.dim():
                skipped = True
                results.append(torch.empty(0, dtype=value.dtype, device=value.device))
                continue
            upsampled = LayerAttribution.interpolate(cam, tuple(value.shape[2:]),
                                                     interpolate_mode)
            results.append(value * upsampled)
        if skipped:
            warnings.warn(
                "GuidedGradCam: the Grad-CAM map has shape "
                f"{tuple(cam.shape)} and cannot be upsampled to inputs with a different number "
                "of dimensions; their attributions are empty tensors.",
                UserWarning,
                stacklevel=2,
            )
        return restore_format(results, call.was_tuple)
