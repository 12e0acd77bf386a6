"""Internal Influence (Leino et al., 2018): path-integrated gradients at a layer."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from .._utils.inputs import (
    expand_additional_forward_args,
    expand_baselines,
    format_baselines,
)
from .._utils.layer_autograd import check_grad_kwargs, layer_gradients
from .._utils.layer_capture import LayerRecord
from .._utils.path import integrate_gradients
from .._utils.prepare import prepare_call
from .._utils.quadrature import validate_rule
from .._utils.validation import check_optional_int
from ..base import GradientAttribution, LayerAttribution, TensorOrTupleOfTensors
from ._common import check_flags, single_layer


class InternalInfluence(LayerAttribution, GradientAttribution):
    r"""Gradients of the output w.r.t. a layer, integrated along the straight path from the
    baselines to the inputs (in input space):

    .. math::
        II_j(x) = \int_0^1 \frac{\partial F}{\partial y_j}\big(x' + \alpha (x - x')\big)\, d\alpha
        \approx \sum_k w_k \frac{\partial F}{\partial y_j}\big(x' + \alpha_k (x - x')\big)

    with the quadrature rule ``method``; y is the layer's output (or input). Not multiplied by
    the change in activation (see Layer Conductance for that), so there is no completeness.

    Args:
        forward_func: the model or any callable running it.
        layer: the module whose output (or input) is explained.
        device_ids: device order for ``nn.DataParallel`` models.
    """

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[List[int]] = None) -> None:
        super().__init__(forward_func, single_layer(layer, "InternalInfluence"), device_ids)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: Optional[int] = None,
        attribute_to_layer_input: bool = False,
        grad_kwargs: Optional[Dict[str, Any]] = None,
    ) -> Union[Tensor, tuple]:
        """Path-integrated layer gradients, shaped like the layer's output (input); a tuple for
        a layer with several tensors. The model runs on n_steps x N rows (chunked by
        ``internal_batch_size`` or the memory budget)."""
        check_flags(attribute_to_layer_input=attribute_to_layer_input)
        call = prepare_call(inputs, target, additional_forward_args,
                            gradients_of="InternalInfluence")
        validate_rule(method, n_steps)
        check_optional_int("internal_batch_size", internal_batch_size, minimum=1)
        grad_kwargs = check_grad_kwargs(grad_kwargs)
        baselines_ = expand_baselines(format_baselines(baselines, call.inputs), call.inputs)
        shape: List[LayerRecord] = []

        def gradient_fn(points: Tuple[Tensor, ...], steps: int):
            result = layer_gradients(self.forward_func, [self.layer], points,
                                     call.target.repeat(steps),
                                     expand_additional_forward_args(call.args, steps),
                                     attribute_to_layer_input, self.device_ids, grad_kwargs)
            shape[:] = result.gradients
            return result.gradients[0].tensors, torch.zeros(())

        integral = integrate_gradients(gradient_fn, call.inputs, baselines_, n_steps, method,
                                       internal_batch_size)
        return shape[0].restore(integral.gradient_sums)
