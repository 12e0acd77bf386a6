"""The ``target`` argument: which output value of the model each example is attributed to.

Forms (Captum's): ``None`` (the output already holds one value per example), an int (a class
index in dim 1 for every example), a tuple of ints (an index into dims 1..k), a tensor (a
single index, or one index per example), a list of per-example ints or per-example tuples.

:class:`Target` normalises these once per ``attribute`` call, knows how to follow the batch
when examples are expanded into path steps or samples, and selects the value from an output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Literal, Optional, Tuple, Union

import torch
from torch import Tensor

from .validation import describe, is_int

TargetType = Union[None, int, Tuple[int, ...], Tensor, List[Any]]
Kind = Literal["none", "index", "per_example_index", "per_example_tuple"]


@dataclass(frozen=True)
class Target:
    """A validated target.

    ``kind``:
      * ``"none"``: no selection.
      * ``"index"``: ``value`` is a tuple of ints indexing dims 1..k of every row.
      * ``"per_example_index"``: ``value`` is a LongTensor of shape (rows,) indexing dim 1.
      * ``"per_example_tuple"``: ``value`` is a tuple of index tuples, one per row.

    ``bounds`` (per-example indices): (min, max) of ``value``, kept through ``repeat`` and
    ``slice`` so the range check of every selection needs no reduction over the rows.
    """

    kind: Kind
    value: Any = None
    bounds: Optional[Tuple[int, int]] = field(default=None, compare=False, repr=False)

    @property
    def rows(self) -> Optional[int]:
        """Number of rows this target is bound to (``None`` when it applies to any batch)."""
        if self.kind in ("per_example_index", "per_example_tuple"):
            return len(self.value)
        return None

    def repeat(self, times: int) -> Target:
        """Follow inputs expanded step-major (``[all N examples] * times``)."""
        if times == 1 or self.rows is None:
            return self
        if self.kind == "per_example_index":
            return Target(self.kind, self.value.repeat(times), self.bounds)
        return Target(self.kind, self.value * times)

    def repeat_interleave(self, times: int) -> Target:
        """Follow inputs expanded example-major (each example repeated in place)."""
        if times == 1 or self.rows is None:
            return self
        if self.kind == "per_example_index":
            return Target(self.kind, self.value.repeat_interleave(times), self.bounds)
        return Target(self.kind, tuple(t for t in self.value for _ in range(times)))

    def slice(self, start: int, stop: int) -> Target:
        """Rows ``start:stop`` of a per-example target (others are unchanged)."""
        if self.rows is None:
            return self
        # The parent's bounds still bound a slice's values (a loose but valid range check).
        return Target(self.kind, self.value[start:stop], self.bounds)

    def take(self, rows: Tensor) -> Target:
        """Rows ``rows`` (a LongTensor of example indices, any order, repeats allowed) of a
        per-example target (others are unchanged)."""
        if self.rows is None:
            return self
        if self.kind == "per_example_index":
            return Target(self.kind, self.value.index_select(0, rows.to(self.value.device)),
                          self.bounds)
        return Target(self.kind, tuple(self.value[i] for i in rows.tolist()))

    def select(self, output: Tensor) -> Tensor:
        """The targeted value of each row of ``output``; shape (rows,) or, for ``"none"``,
        the output itself."""
        if self.kind == "none":
            return output
        if output.dim() < 2:
            raise ValueError(
                f"`target` {self.describe()} needs a model output with a class dimension "
                f"(at least 2-D); got output of shape {tuple(output.shape)}. Pass target=None "
                "for models that return one value per example."
            )
        if self.kind == "index":
            self._check_range(output, self.value)
            return output[(slice(None), *self.value)]
        if output.shape[0] != self.rows:
            raise ValueError(
                f"`target` has one entry per example ({self.rows}) but the model output has "
                f"{output.shape[0]} rows (shape {tuple(output.shape)})."
            )
        if self.kind == "per_example_index":
            index = self.value.to(output.device)
            low, high = self.bounds if self.bounds is not None else _bounds(index)
            if index.numel() and (low < 0 or high >= output.shape[1]):
                raise ValueError(
                    f"`target` indices must lie in [0, {output.shape[1]}) for an output of shape "
                    f"{tuple(output.shape)}; got values from {low} to {high}."
                )
            if output.dim() == 2:
                return output.gather(1, index.unsqueeze(1)).squeeze(1)
            rows = torch.arange(output.shape[0], device=output.device)
            return output[rows, index]
        lengths = {len(entry) for entry in self.value}
        if len(lengths) == 1:
            # One gather instead of a Python loop: per-row indexing builds one autograd node
            # per row, whose backward allocates a full-size gradient each (quadratic in rows).
            columns = torch.tensor(self.value, dtype=torch.long, device=output.device)
            self._check_range(output, (0,) * columns.shape[1])
            for dim in range(columns.shape[1]):
                size = output.shape[dim + 1]
                low, high = int(columns[:, dim].min()), int(columns[:, dim].max())
                if low < -size or high >= size:
                    bad = low if low < -size else high
                    self._check_range(output, (*(0,) * dim, bad))
            rows = torch.arange(output.shape[0], device=output.device)
            return output[(rows, *columns.unbind(1))]
        for entry in self.value:
            self._check_range(output, entry)
        return torch.stack([output[(row, *entry)] for row, entry in enumerate(self.value)])

    def _check_range(self, output: Tensor, index: Tuple[int, ...]) -> None:
        if len(index) > output.dim() - 1:
            raise ValueError(
                f"`target` {index} has {len(index)} indices but the model output of shape "
                f"{tuple(output.shape)} has only {output.dim() - 1} non-batch dimensions."
            )
        for dim, i in enumerate(index, start=1):
            size = output.shape[dim]
            if not -size <= i < size:
                raise ValueError(
                    f"`target` index {i} is out of range for dimension {dim} of the model output "
                    f"(shape {tuple(output.shape)}, valid 0..{size - 1})."
                )

    def describe(self) -> str:
        if self.kind == "index":
            return str(self.value[0] if len(self.value) == 1 else self.value)
        return f"({self.kind})"

    def as_captum_target(self) -> TargetType:
        """The plain form (int, tuple, tensor, list) a user would pass."""
        if self.kind == "none":
            return None
        if self.kind == "index":
            return self.value[0] if len(self.value) == 1 else self.value
        if self.kind == "per_example_index":
            return self.value
        return list(self.value)


def format_target(target: Any, num_examples: Optional[int] = None) -> Target:
    """Validate ``target`` (any Captum form, or an existing :class:`Target`).

    ``num_examples`` (N) is checked against per-example forms when given.
    """
    if isinstance(target, Target):
        formatted = target
    elif target is None:
        formatted = Target("none")
    elif is_int(target):
        formatted = Target("index", (int(target),))
    elif isinstance(target, tuple):
        if not target or not all(is_int(t) for t in target):
            raise TypeError(
                f"a tuple `target` must contain ints (an index into the output's non-batch "
                f"dimensions); got {describe(target)}."
            )
        formatted = Target("index", tuple(int(t) for t in target))
    elif isinstance(target, Tensor):
        formatted = _tensor_target(target)
    elif isinstance(target, list):
        formatted = _list_target(target)
    else:
        raise TypeError(
            "`target` must be None, an int, a tuple of ints, a tensor of indices, or a list of "
            f"per-example ints or tuples; got {describe(target)}."
        )
    rows = formatted.rows
    if num_examples is not None and rows is not None and rows != num_examples:
        raise ValueError(
            f"`target` must have one entry per example ({num_examples}); got {rows} entries."
        )
    return formatted


def _tensor_target(target: Tensor) -> Target:
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise TypeError(f"a tensor `target` must hold integer indices; got {describe(target)}.")
    if target.numel() == 1:
        return Target("index", (int(target.item()),))
    if target.dim() != 1:
        raise ValueError(
            "a tensor `target` must be a single index or 1-D with one index per example; got "
            f"shape {tuple(target.shape)}."
        )
    index = target.long()
    return Target("per_example_index", index, _bounds(index))


def _bounds(index: Tensor) -> Tuple[int, int]:
    """(min, max) of a non-empty index tensor (one reduction)."""
    if index.numel() == 0:
        return (0, 0)
    low, high = torch.aminmax(index)
    return int(low), int(high)


def _list_target(target: list) -> Target:
    if not target:
        raise ValueError("a list `target` must have one entry per example; got an empty list.")
    if all(is_int(t) for t in target):
        values = [int(t) for t in target]
        return Target("per_example_index", torch.tensor(values, dtype=torch.long),
                      (min(values), max(values)))
    if all(isinstance(t, tuple) and t and all(is_int(i) for i in t) for t in target):
        return Target("per_example_tuple", tuple(tuple(int(i) for i in t) for t in target))
    raise TypeError(
        "a list `target` must contain only ints or only tuples of ints (one per example); got "
        f"{describe(target)}."
    )
