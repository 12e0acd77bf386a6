"""Grad-CAM (Selvaraju et al., ICCV 2017) for any layer."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Union

import torch.nn.functional as F
from torch import Tensor, nn

from .._utils.layer_autograd import check_grad_kwargs, layer_gradients
from .._utils.prepare import prepare_call
from ..base import GradientAttribution, LayerAttribution, TensorOrTupleOfTensors
from ._common import check_flags, single_layer


def grad_cam_map(gradient: Tensor, activation: Tensor, relu_attributions: bool,
                 attr_dim_summation: bool) -> Tensor:
    """Grad-CAM of one layer tensor (N, C, *spatial).

    Channel weights are the spatially averaged gradients
    :math:`\\alpha_c = \\text{mean}_{ij}\\, \\partial y / \\partial A_{c,ij}`, the map is
    :math:`\\sum_c \\alpha_c A_c` (shape (N, 1, *spatial)), or the weighted channels
    :math:`\\alpha_c A_c` (N, C, *spatial) without ``attr_dim_summation``. A 2-D layer (N, C)
    has no spatial dimensions: its weights are the gradients themselves.
    """
    if gradient.dim() > 2:
        weights = gradient.mean(dim=tuple(range(2, gradient.dim())), keepdim=True)
    else:
        weights = gradient
    weighted = weights * activation
    result = weighted.sum(dim=1, keepdim=True) if attr_dim_summation else weighted
    return F.relu(result) if relu_attributions else result


class LayerGradCam(LayerAttribution, GradientAttribution):
    r"""Gradient-weighted class activation map of a layer (usually the last convolution):

    .. math::
        \alpha_c = \frac{1}{Z} \sum_{ij} \frac{\partial y}{\partial A_{c,ij}}, \qquad
        L = \sum_c \alpha_c A_c

    shape (N, 1, H, W) for a layer output (N, C, H, W). **As in Captum, no ReLU is applied
    unless** ``relu_attributions=True`` (the paper applies it). Use
    :meth:`LayerAttribution.interpolate` to upsample the map to the input size. For a layer
    feeding global average pooling and a linear head, Grad-CAM equals CAM / Z and the map sums
    to :math:`y^c - b^c`.

    Args:
        forward_func: the model or any callable running it.
        layer: the module whose output (or input) is explained.
        device_ids: device order for ``nn.DataParallel`` models.
    """

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[List[int]] = None) -> None:
        super().__init__(forward_func, single_layer(layer, "LayerGradCam"), device_ids)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        target: Any = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = False,
        attr_dim_summation: bool = True,
        grad_kwargs: Optional[Dict[str, Any]] = None,
    ) -> Union[Tensor, tuple]:
        """Grad-CAM maps of the layer for the targeted output.

        Returns:
            (N, 1, *spatial) per layer tensor ((N, C, *spatial) without
            ``attr_dim_summation``); a tuple for a layer with several tensors.
        """
        check_flags(attribute_to_layer_input=attribute_to_layer_input,
                    relu_attributions=relu_attributions, attr_dim_summation=attr_dim_summation)
        call = prepare_call(inputs, target, additional_forward_args)
        result = layer_gradients(self.forward_func, [self.layer], call.inputs, call.target,
                                 call.args, attribute_to_layer_input, self.device_ids,
                                 check_grad_kwargs(grad_kwargs))
        grads, acts = result.gradients[0], result.activations[0]
        maps = tuple(grad_cam_map(g, a, relu_attributions, attr_dim_summation)
                     for g, a in zip(grads.tensors, acts.tensors))
        return grads.restore(maps)
