"""Gradients with respect to what a layer produces (or receives): the backward half of the
layer and neuron algorithms.

:func:`layer_gradients` differentiates the targeted output with respect to the tensors that
:func:`~.layer_capture.run_with_layers` captured (one forward and one backward pass);
:func:`neuron_gradients` differentiates one selected neuron with respect to the inputs (and,
optionally, the targeted output with respect to that neuron).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .forward import check_one_value_per_example, module_of
from .layer_capture import (
    LayerRecord,
    LazyModuleName,
    Replacement,
    concat_devices,
    run_with_layers,
)
from .neuron_selector import NeuronSelector
from .target import Target
from .validation import describe


def check_grad_kwargs(grad_kwargs: Any) -> Optional[Dict[str, Any]]:
    """``grad_kwargs`` are keyword arguments for ``torch.autograd.grad`` (or None)."""
    if grad_kwargs is not None and not isinstance(grad_kwargs, dict):
        raise TypeError(f"`grad_kwargs` must be a dict or None; got {describe(grad_kwargs)}.")
    return grad_kwargs


@dataclass
class LayerGradients:
    """Gradients of the targeted output w.r.t. each layer's tensors, the tensors themselves
    (detached) and the targeted output (detached)."""

    gradients: List[LayerRecord]
    activations: List[LayerRecord]
    output: Tensor


def layer_gradients(
    forward_func: Callable[..., Any],
    layers: Sequence[nn.Module],
    inputs: Sequence[Tensor],
    target: Target,
    args: Optional[Tuple[Any, ...]],
    attribute_to_layer_input: bool = False,
    device_ids: Optional[List[int]] = None,
    grad_kwargs: Optional[Dict[str, Any]] = None,
    replacements: Optional[Sequence[Replacement]] = None,
    protect: bool = False,
) -> LayerGradients:
    """d output[target] / d (layer tensors), summed over the batch (rows are independent, so
    each row's gradient is that example's), from one forward and one backward pass."""
    with torch.enable_grad():
        result = run_with_layers(forward_func, layers, inputs, args, attribute_to_layer_input,
                                 device_ids, track_gradients=True, replacements=replacements,
                                 protect=protect)
        selected = target.select(result.output)
        check_one_value_per_example(selected, target)
        flat = [t for per_device in result.per_device for part in per_device for t in part]
        if not selected.requires_grad:
            raise ValueError(
                "the model output does not depend on the layer's "
                f"{'inputs' if attribute_to_layer_input else 'outputs'} through differentiable "
                "operations, so there is no gradient to attribute."
            )
        grads = torch.autograd.grad(selected, flat, grad_outputs=torch.ones_like(selected),
                                    allow_unused=True, **(grad_kwargs or {}))
    grads_iter = iter(torch.zeros_like(t) if g is None else g for g, t in zip(grads, flat))
    gradient_records, activation_records = [], []
    for index, per_device in enumerate(result.per_device):
        grad_parts = [tuple(next(grads_iter) for _ in part) for part in per_device]
        value_parts = [tuple(t.detach() for t in part) for part in per_device]
        gradient_records.append(LayerRecord(concat_devices(grad_parts), result.is_tuple[index]))
        activation_records.append(LayerRecord(concat_devices(value_parts),
                                              result.is_tuple[index]))
    return LayerGradients(gradient_records, activation_records, selected.detach())


def neuron_gradients(
    forward_func: Callable[..., Any],
    layer: nn.Module,
    inputs: Sequence[Tensor],
    args: Optional[Tuple[Any, ...]],
    selector: NeuronSelector,
    attribute_to_neuron_input: bool = False,
    device_ids: Optional[List[int]] = None,
    target: Optional[Target] = None,
    grad_kwargs: Optional[Dict[str, Any]] = None,
    reference_rows: Optional[Sequence[Tensor]] = None,
    protect: bool = False,
) -> Tuple[Tuple[Tensor, ...], Optional[Tensor]]:
    """Gradients of the selected neuron w.r.t. ``inputs`` (per row) from one forward pass.

    With ``target``, also d output[target] / d neuron per example, shape (N,) (the selector
    applied to the layer gradients; Neuron Conductance's chain-rule factor). Returns
    ``(input_gradients, output_gradient_or_None)``.

    ``reference_rows`` (DeepLift family): constant rows stacked under each input inside the
    graph, so the model sees ``[inputs; reference_rows]``; the neuron is summed over all rows
    and the gradients are w.r.t. the input rows.
    """
    with torch.enable_grad():
        leaves = tuple(x.detach().requires_grad_() for x in inputs)
        model_inputs = leaves if reference_rows is None else tuple(
            torch.cat([leaf, reference.detach()]) for leaf, reference in zip(leaves,
                                                                             reference_rows))
        result = run_with_layers(forward_func, [layer], model_inputs, args,
                                 attribute_to_neuron_input, device_ids, track_gradients=True,
                                 protect=protect)
        per_device = result.per_device[0]
        tensors = concat_devices(per_device)
        name = LazyModuleName(module_of(forward_func), layer)
        neuron = selector.select(tensors, name)
        output_gradient = None
        if target is not None:
            selected = target.select(result.output)
            check_one_value_per_example(selected, target)
            flat = [t for part in per_device for t in part]
            grads = torch.autograd.grad(selected, flat, grad_outputs=torch.ones_like(selected),
                                        allow_unused=True, retain_graph=True,
                                        **(grad_kwargs or {}))
            grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, flat)]
            parts, start = [], 0
            for part in per_device:
                parts.append(tuple(grads[start:start + len(part)]))
                start += len(part)
            output_gradient = selector.select(concat_devices(parts), name).detach()
        if neuron.requires_grad:
            input_grads = torch.autograd.grad(neuron, leaves, grad_outputs=torch.ones_like(neuron),
                                              allow_unused=True)
        else:
            input_grads = (None,) * len(leaves)
    return (tuple(torch.zeros_like(x) if g is None else g for g, x in zip(input_grads, leaves)),
            output_gradient)


__all__ = [
    "LayerGradients",
    "check_grad_kwargs",
    "layer_gradients",
    "neuron_gradients",
]
