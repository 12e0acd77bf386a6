"""Layer GradientShap: expected gradients in a layer's activation space."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from .._utils.inputs import format_baseline_distribution
from .._utils.layer_autograd import layer_gradients
from .._utils.layer_capture import endpoint_activations
from .._utils.path import times_difference
from .._utils.prepare import prepare_call
from .._utils.sampling import check_stdevs, gradient_shap_rows, sum_over_samples
from .._utils.validation import check_bool, check_int
from ..base import (
    GradientAttribution,
    LayerAttribution,
    MultipliesByInputsOption,
    TensorOrTupleOfTensors,
    convergence_delta,
)
from ._common import check_flags, single_layer


class LayerGradientShap(MultipliesByInputsOption, LayerAttribution, GradientAttribution):
    r"""GradientShap at a layer: for each example, ``n_samples`` rows are drawn (the input plus
    Gaussian noise of ``stdevs``, a reference drawn from ``baselines``, a uniform point c on the
    path between them); each row contributes the layer gradient at the path point times the
    layer's change between reference and noisy input,

    .. math:: a_j = \frac{1}{S} \sum_s \frac{\partial F}{\partial y_j}(x'_s + c_s (\tilde x_s
        - x'_s)) \, (y_j(\tilde x_s) - y_j(x'_s)).

    Random draws follow Captum's order (torch noise, then NumPy reference indices and
    coefficients), so seeded runs match Captum.

    Args:
        forward_func: the model or any callable running it.
        layer: the module whose output (or input) is explained.
        device_ids: device order for ``nn.DataParallel`` models.
        multiply_by_inputs: multiply by the layer's change (default) or return the gradients.
    """

    def __init__(self, forward_func: Callable[..., Any], layer: nn.Module,
                 device_ids: Optional[List[int]] = None, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func, single_layer(layer, "LayerGradientShap"), device_ids)
        self._set_multiply_by_inputs(multiply_by_inputs)

    def has_convergence_delta(self) -> bool:
        return True

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any,
        n_samples: int = 5,
        stdevs: Union[float, Tuple[float, ...]] = 0.0,
        target: Any = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
    ) -> Union[Tensor, tuple, Tuple[Any, Tensor]]:
        """Layer GradientShap attributions, shaped like the layer's output (input); with the
        delta, ``(attributions, delta)`` with one entry per row (N*n_samples,): sum of the
        row's attributions minus (F(noisy input) - F(reference))."""
        check_flags(attribute_to_layer_input=attribute_to_layer_input)
        check_bool("return_convergence_delta", return_convergence_delta)
        call = prepare_call(inputs, target, additional_forward_args,
                            gradients_of="LayerGradientShap")
        n_samples = check_int("n_samples", n_samples, minimum=1)
        stdevs_ = check_stdevs(stdevs, len(call.inputs))
        distribution = format_baseline_distribution(baselines, call.inputs, inputs,
                                                    same_count=False)
        rows = gradient_shap_rows(call.inputs, distribution, n_samples, stdevs_, call.target,
                                  call.args)
        noisy, references, points, target_rows, args_rows = rows.chunk(0, rows.rows)
        result = layer_gradients(self.forward_func, [self.layer], points, target_rows,
                                 args_rows, attribute_to_layer_input, self.device_ids)
        grads = result.gradients[0]
        if self._multiply_by_inputs:
            (at_x,), (at_b,), endpoints = endpoint_activations(
                self.forward_func, [self.layer], noisy, references, target_rows, args_rows,
                attribute_to_layer_input, self.device_ids)
            per_row = times_difference(grads.tensors, at_x.tensors, at_b.tensors)
        else:
            per_row = grads.tensors
        attributions = grads.restore(tuple(sum_over_samples(a, call.num_examples) / n_samples
                                           for a in per_row))
        if not return_convergence_delta:
            return attributions
        if not self._multiply_by_inputs:
            endpoints = None
        with torch.no_grad():
            delta = convergence_delta(self.forward_func, per_row, references, noisy,
                                      target_rows, args_rows, endpoints)
        return attributions, delta
