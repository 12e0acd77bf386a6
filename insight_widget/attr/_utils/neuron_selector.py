"""The ``neuron_selector`` argument of neuron methods: which value(s) of a layer to explain.

Captum's forms:

* an int, or a tuple (or list) of ints and slices indexing the layer's non-batch dimensions:
  ``(c, h, w)`` picks one neuron; with slices, e.g. ``(slice(0, 2), 1, slice(0, 2))``, the
  selected neurons are **summed** per example;
* a callable receiving the layer's tensor (or tuple of tensors, for a multi-output layer) and
  returning one value per example, shape (N,) or (N, 1, ...) (or a 0-d sum over the batch).

An index selector must address every non-batch dimension unless it contains a slice or the
dimensions it leaves hold one element (e.g. ``0`` on a layer of per-example shape (1, 1)): the
result must be one value per example. (Captum sums any block left over; a multi-element
block is refused here, since summing it is rarely what an index was meant to say.) The same
selection applies to layer gradients (Neuron Conductance needs d output / d neuron), so a
selector is applied through :meth:`NeuronSelector.select` to any tensors shaped like the
layer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Tuple, Union

from torch import Tensor

from .validation import describe, is_int

SelectorType = Union[int, Tuple[Union[int, slice], ...], Callable[..., Tensor]]


@dataclass(frozen=True)
class NeuronSelector:
    """A validated selector: ``index`` (tuple of ints/slices) or ``function``."""

    index: Optional[Tuple[Union[int, slice], ...]] = None
    function: Optional[Callable[..., Tensor]] = None

    @property
    def sums(self) -> bool:
        """Whether an index selector picks several neurons (summed per example)."""
        return self.index is not None and any(isinstance(i, slice) for i in self.index)

    def select(self, tensors: Sequence[Tensor], layer_name: Any = "layer") -> Tensor:
        """The selected neuron value(s) per example, shape (N,) (or 0-d from a callable)."""
        if self.function is not None:
            value = self.function(tensors[0] if len(tensors) == 1 else tuple(tensors))
            return _check_function_result(value, tensors[0])
        assert self.index is not None
        if len(tensors) != 1:
            raise ValueError(
                f"`neuron_selector` {self.index} indexes one tensor but '{layer_name}' has "
                f"{len(tensors)} tensors; pass a callable that receives the tuple of tensors "
                "and returns one value per example."
            )
        layer = tensors[0]
        self._check_range(layer, layer_name)
        selected = layer[(slice(None), *self.index)]
        if selected.dim() > 1:
            if not self.sums and selected.shape[1:].numel() != 1:
                raise ValueError(
                    f"`neuron_selector` {self.index} leaves a block of shape "
                    f"{tuple(selected.shape[1:])} of '{layer_name}' (per-example shape "
                    f"{tuple(layer.shape[1:])}); give one index per non-batch dimension "
                    f"({layer.dim() - 1}), or use slices to sum several neurons."
                )
            selected = selected.reshape(selected.shape[0], -1).sum(1)
        return selected

    def _check_range(self, layer: Tensor, layer_name: Any) -> None:
        assert self.index is not None
        if len(self.index) > layer.dim() - 1:
            raise ValueError(
                f"`neuron_selector` {self.index} has {len(self.index)} indices but '{layer_name}' "
                f"has per-example shape {tuple(layer.shape[1:])} ({layer.dim() - 1} "
                "dimensions)."
            )
        for dim, entry in enumerate(self.index, start=1):
            size = layer.shape[dim]
            if isinstance(entry, int) and not -size <= entry < size:
                raise ValueError(
                    f"`neuron_selector` index {entry} is out of range for dimension {dim} of "
                    f"'{layer_name}' (per-example shape {tuple(layer.shape[1:])}, valid "
                    f"{-size}..{size - 1})."
                )


def _check_function_result(value: Any, layer: Tensor) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(
            f"a callable `neuron_selector` must return a torch.Tensor; got {describe(value)}."
        )
    rows = layer.shape[0]
    if value.dim() == 0 or (value.dim() == 1 and value.shape[0] == rows):
        return value
    if value.shape[0] == rows and value.numel() == rows:  # (N, 1, ...): one value per row
        return value.reshape(rows)
    raise ValueError(
        "a callable `neuron_selector` must return one value per example (shape (batch,) or "
        "(batch, 1) for "
        f"a layer tensor of shape (batch, ...)); got shape {tuple(value.shape)} from a layer "
        f"tensor of shape {tuple(layer.shape)}."
    )


def format_neuron_selector(selector: Any) -> NeuronSelector:
    """Validate ``neuron_selector`` (int, tuple/list of ints and slices, or callable)."""
    if isinstance(selector, NeuronSelector):
        return selector
    if callable(selector) and not isinstance(selector, Tensor):
        return NeuronSelector(function=selector)
    entries: Sequence[Any]
    if is_int(selector) or (isinstance(selector, Tensor) and selector.numel() == 1):
        entries = (selector,)
    elif isinstance(selector, (tuple, list)) and len(selector) > 0:
        entries = selector
    else:
        raise TypeError(
            "`neuron_selector` must be an int, a tuple of ints and slices (one per non-batch "
            f"dimension of the layer), or a callable; got {describe(selector)}."
        )
    index = []
    for entry in entries:
        if isinstance(entry, slice):
            index.append(entry)
        elif is_int(entry):
            index.append(int(entry))
        elif (isinstance(entry, Tensor) and entry.numel() == 1 and not entry.is_floating_point()
              and not entry.is_complex()):
            index.append(int(entry.item()))
        else:
            raise TypeError(
                "`neuron_selector` entries must be ints or slices; got "
                f"{describe(entry)} in {describe(selector)}."
            )
    return NeuronSelector(index=tuple(index))


__all__ = ["NeuronSelector", "SelectorType", "format_neuron_selector"]
