"""Layer Conductance (Dhamdhere, Sundararajan, Yan, ICLR 2019)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from torch import Tensor, nn

from .._utils.inputs import (
    expand_additional_forward_args,
    expand_baselines,
    format_baselines,
)
from .._utils.layer_autograd import check_grad_kwargs, layer_gradients
from .._utils.layer_capture import LayerRecord
from .._utils.path import walk_path
from .._utils.prepare import prepare_call
from .._utils.quadrature import step_sizes_and_alphas, validate_rule
from .._utils.validation import check_bool, check_optional_int
from ..base import GradientAttribution, LayerAttribution, TensorOrTupleOfTensors, convergence_delta
from ._common import check_flags, single_layer


def finite_difference_sum(grads: Tensor, activations: Tensor, points: int, num_examples: int
                          ) -> Tensor:
    """``sum_k g_k * (y_{k+1} - y_k)`` over consecutive path points (step-major rows)."""
    g = grads.reshape(points, num_examples, *grads.shape[1:])
    y = activations.reshape(points, num_examples, *activations.shape[1:])
    return (g[:-1] * (y[1:] - y[:-1])).sum(0)


class LayerConductance(LayerAttribution, GradientAttribution):
    r"""Conductance of each neuron of a layer: the flow of the Integrated Gradients attribution
    through it,

    .. math::
        Cond_j(x) = \int_0^1 \frac{\partial F}{\partial y_j} \frac{\partial y_j}{\partial \alpha}
        d\alpha \approx \sum_{k=0}^{n-1} \frac{\partial F}{\partial y_j}(x_k)
        \big(y_j(x_{k+1}) - y_j(x_k)\big)

    over the n + 1 path points :math:`x_k = x' + \alpha_k (x - x')` given by the quadrature rule
    ``method`` with n_steps + 1 nodes (Captum's discretisation: finite differences of the layer
    along the path, no quadrature weights). Summed over the layer's neurons it approximates
    F(x) - F(x'); the convergence delta reports the difference.

    With ``internal_batch_size``, chunks of ``max(2, internal_batch_size // N)`` path points
    share their last point with the next chunk (a finite difference needs both ends), as in
    Captum, so the result does not depend on the chunking.

    Args:
        forward_func: the model or any callable running it.
        layer: the module whose output (or input) is explained.
        device_ids: device order for ``nn.DataParallel`` models.
    """

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[List[int]] = None) -> None:
        super().__init__(forward_func, single_layer(layer, "LayerConductance"), device_ids)

    @property
    def multiplies_by_inputs(self) -> bool:
        return True

    def has_convergence_delta(self) -> bool:
        return True

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: Optional[int] = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        grad_kwargs: Optional[Dict[str, Any]] = None,
    ) -> Union[Tensor, tuple, Tuple[Any, Tensor]]:
        """Conductance of the layer's neurons, shaped like its output (input); with the
        delta, ``(attributions, delta)`` where delta = sum(attributions) - (F(x) - F(x')),
        shape (N,). The model runs on (n_steps + 1) x N rows."""
        check_flags(attribute_to_layer_input=attribute_to_layer_input)
        check_bool("return_convergence_delta", return_convergence_delta)
        call = prepare_call(inputs, target, additional_forward_args,
                            gradients_of="LayerConductance")
        validate_rule(method, n_steps)
        check_optional_int("internal_batch_size", internal_batch_size, minimum=1)
        grad_kwargs = check_grad_kwargs(grad_kwargs)
        baselines_ = expand_baselines(format_baselines(baselines, call.inputs), call.inputs)
        n = call.num_examples
        # n_steps + 1 path points: n_steps finite differences
        _, alphas = step_sizes_and_alphas(method, n_steps + 1)
        records: List[LayerRecord] = []  # the layer's format, for restoring the result

        def evaluate(points: Tuple[Tensor, ...], start: int, stop: int):
            count = stop - start
            result = layer_gradients(self.forward_func, [self.layer], points,
                                     call.target.repeat(count),
                                     expand_additional_forward_args(call.args, count),
                                     attribute_to_layer_input, self.device_ids, grad_kwargs)
            records[:] = [result.gradients[0]]
            return [finite_difference_sum(g, a, count, n) for g, a in
                    zip(result.gradients[0].tensors, result.activations[0].tensors)], result.output

        integral = walk_path(evaluate, call.inputs, baselines_, alphas, internal_batch_size,
                             overlap=1)
        sums = list(integral.gradient_sums)
        attributions = records[0].restore(sums)
        if not return_convergence_delta:
            return attributions
        delta = convergence_delta(self.forward_func, sums, baselines_, call.inputs, call.target,
                                  call.args, integral.endpoint_outputs)
        return attributions, delta
