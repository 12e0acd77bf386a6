"""Layer Integrated Gradients: Integrated Gradients in the activation space of a layer."""

from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import torch
from torch import Tensor

from .._utils.anytime import (
    DEFAULT_DELTA_TOLERANCE,
    DEFAULT_STEP_BUDGET,
    AnytimePathIntegral,
    AnytimeResult,
    anytime_results,
    check_anytime_arguments,
    check_n_steps_form,
    is_auto,
    last_result,
    take_additional_forward_args,
    take_rows,
)
from .._utils.inputs import (
    expand_additional_forward_args,
    expand_baselines,
    format_baselines,
)
from .._utils.layer_autograd import check_grad_kwargs, layer_gradients
from .._utils.layer_capture import (
    LayerSpec,
    endpoint_activations,
    flatten_records,
    format_layer_result,
    layers_as_list,
    unflatten_like,
)
from .._utils.path import check_path_arguments, integrate_gradients, times_difference
from .._utils.prepare import prepare_call
from .._utils.validation import check_bool, check_optional_int
from ..base import (
    GradientAttribution,
    LayerAttribution,
    MultipliesByInputsOption,
    TensorOrTupleOfTensors,
    convergence_delta,
)
from ._common import check_flags


class LayerIntegratedGradients(MultipliesByInputsOption, LayerAttribution, GradientAttribution):
    r"""Integrated Gradients of the output w.r.t. a layer's activations, along the straight
    path between the layer's activations at the baselines (y') and at the inputs (y):

    .. math::
        LIG_j = (y_j - y'_j) \sum_k w_k \frac{\partial F}{\partial y_j}
        \big|_{y = y' + \alpha_k (y - y')}

    The model runs on the inputs (repeated per step) with the layer's output replaced by the
    path point, so layers such as embeddings of integer token ids can be explained.
    Completeness holds w.r.t. the layer: sum = F(x) - F(x') when the output depends on the
    inputs only through the layer.

    ``n_steps="auto"`` (not in Captum) refines adaptively per example until
    |delta| <= ``delta_tolerance`` * |F(x) - F(x')| or ``step_budget`` nodes are spent, as
    :class:`IntegratedGradients` does; :meth:`attribute_progressive` streams the rounds.

    Args:
        forward_func: the model or any callable running it.
        layer: a module of the model, or a list of modules (their paths are integrated
            jointly; one result per module).
        device_ids: device order for ``nn.DataParallel`` models.
        multiply_by_inputs: multiply by (y - y') (default) or return the path-averaged gradient.
    """

    def __init__(self, forward_func: Callable[..., Any], layer: LayerSpec,
                 device_ids: Optional[List[int]] = None, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func, layer, device_ids)
        layers, _ = layers_as_list(layer)
        if len(layers) > 1:
            warnings.warn(
                "LayerIntegratedGradients with several layers replaces all of them at once: a "
                "layer whose value is computed only from another listed layer gets no gradient "
                "through that layer. List layers on separate paths of the model.",
                UserWarning,
                stacklevel=2,
            )
        self._set_multiply_by_inputs(multiply_by_inputs)

    def has_convergence_delta(self) -> bool:
        return True

    def _endpoints(self, call: Any, baselines: Any, attribute_to_layer_input: bool):
        """The layers, whether a list was given, the expanded baselines, the layer's records at
        the inputs, the model outputs at both ends, and the layer's activations at the inputs
        and the baselines flattened to one tuple each (``layer_x``, ``layer_b``)."""
        layers, was_list = layers_as_list(self.layer)
        baselines_ = expand_baselines(format_baselines(baselines, call.inputs), call.inputs)
        at_inputs, at_baselines, endpoint_outputs = endpoint_activations(
            self.forward_func, layers, call.inputs, baselines_, call.target, call.args,
            attribute_to_layer_input, self.device_ids)
        return (layers, was_list, baselines_, at_inputs, endpoint_outputs,
                flatten_records(at_inputs), flatten_records(at_baselines))

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        n_steps: Union[int, str] = 50,
        method: str = "gausslegendre",
        internal_batch_size: Optional[int] = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        grad_kwargs: Optional[Dict[str, Any]] = None,
        *,
        delta_tolerance: float = DEFAULT_DELTA_TOLERANCE,
        step_budget: int = DEFAULT_STEP_BUDGET,
    ) -> Union[Tensor, tuple, list, Tuple[Any, Tensor]]:
        """Layer Integrated Gradients.

        Args:
            inputs: model inputs (tensor or tuple; integer token ids are fine).
            baselines: baselines in *input* space (None = zeros), any accepted form.
            n_steps, method, internal_batch_size: as Integrated Gradients (the model runs on
                n_steps x N rows, chunked); ``n_steps="auto"`` refines adaptively.
            delta_tolerance, step_budget: the stopping rule of ``n_steps="auto"``.

        Returns:
            Shaped like the layer's output (input); a tuple for multi-tensor layers, a list
            for a list of layers; with the delta, ``(attributions, delta)`` (delta shape (N,),
            summed over all layers).
        """
        check_flags(attribute_to_layer_input=attribute_to_layer_input)
        check_bool("return_convergence_delta", return_convergence_delta)
        check_n_steps_form(n_steps)
        if is_auto(n_steps):
            final = last_result(self.attribute_progressive(
                inputs, baselines, target, additional_forward_args, delta_tolerance,
                step_budget, internal_batch_size, attribute_to_layer_input, grad_kwargs))
            return (final.attributions, final.delta) if return_convergence_delta \
                else final.attributions
        call = prepare_call(inputs, target, additional_forward_args)
        check_path_arguments(method, n_steps, internal_batch_size)
        grad_kwargs = check_grad_kwargs(grad_kwargs)
        (layers, was_list, baselines_, at_inputs, endpoint_outputs, layer_x,
         layer_b) = self._endpoints(call, baselines, attribute_to_layer_input)

        def gradient_fn(points: Tuple[Tensor, ...], steps: int):
            replacements = [r.tensors for r in unflatten_like(points, at_inputs)]
            model_inputs = tuple(x.repeat(steps, *([1] * (x.dim() - 1))) for x in call.inputs)
            result = layer_gradients(self.forward_func, layers, model_inputs,
                                     call.target.repeat(steps),
                                     expand_additional_forward_args(call.args, steps),
                                     attribute_to_layer_input, self.device_ids, grad_kwargs,
                                     replacements=replacements)
            return flatten_records(result.gradients), torch.zeros(())

        integral = integrate_gradients(gradient_fn, layer_x, layer_b, n_steps, method,
                                       internal_batch_size,
                                       rows_per_example=(*call.inputs, *layer_x))
        values = integral.gradient_sums
        if self._multiply_by_inputs:
            values = times_difference(values, layer_x, layer_b)
        result = format_layer_result(unflatten_like(values, at_inputs), was_list)
        if not return_convergence_delta:
            return result
        delta = convergence_delta(self.forward_func, values, baselines_, call.inputs,
                                  call.target, call.args, endpoint_outputs)
        return result, delta

    def attribute_progressive(
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        delta_tolerance: float = DEFAULT_DELTA_TOLERANCE,
        step_budget: int = DEFAULT_STEP_BUDGET,
        internal_batch_size: Optional[int] = None,
        attribute_to_layer_input: bool = False,
        grad_kwargs: Optional[Dict[str, Any]] = None,
    ) -> Iterator[AnytimeResult]:
        """Anytime Layer Integrated Gradients: yields an :class:`AnytimeResult` after each
        refinement round (see :meth:`IntegratedGradients.attribute_progressive`); the local
        deltas use the model outputs along the layer path, the reported delta the outputs at
        the inputs and baselines, as the fixed-step delta does."""
        check_flags(attribute_to_layer_input=attribute_to_layer_input)
        call = prepare_call(inputs, target, additional_forward_args)
        tolerance, budget = check_anytime_arguments(delta_tolerance, step_budget)
        check_optional_int("internal_batch_size", internal_batch_size, minimum=1)
        grad_kwargs = check_grad_kwargs(grad_kwargs)
        (layers, was_list, baselines_, at_inputs, endpoint_outputs, layer_x,
         layer_b) = self._endpoints(call, baselines, attribute_to_layer_input)
        n = call.num_examples

        def evaluator(examples: Tensor, points: Tuple[Tensor, ...]):
            replacements = [r.tensors for r in unflatten_like(points, at_inputs)]
            model_inputs = tuple(take_rows(x, examples, n) for x in call.inputs)
            result = layer_gradients(self.forward_func, layers, model_inputs,
                                     call.target.take(examples),
                                     take_additional_forward_args(call.args, examples, n),
                                     attribute_to_layer_input, self.device_ids, grad_kwargs,
                                     replacements=replacements)
            return flatten_records(result.gradients), result.output

        integral = AnytimePathIntegral(evaluator, layer_x, layer_b, tolerance, budget,
                                       internal_batch_size,
                                       rows_per_example=(*call.inputs, *layer_x))

        def finish(sums: Tuple[Tensor, ...]):
            values = sums
            if self._multiply_by_inputs:
                values = times_difference(sums, layer_x, layer_b)
            return format_layer_result(unflatten_like(values, at_inputs), was_list), values

        def delta_of(values: Tuple[Tensor, ...]) -> Tensor:
            return convergence_delta(self.forward_func, values, baselines_, call.inputs,
                                     call.target, call.args, endpoint_outputs)

        return anytime_results(integral, finish, delta_of)
