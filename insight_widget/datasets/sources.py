"""Reading the batches of a dataset to attribute, whatever container they come in.

Accepted: a torch ``DataLoader`` (or any iterable) yielding ``inputs`` tensors, ``(inputs,
labels)`` pairs, dicts with ``inputs`` / ``labels`` / ``additional_forward_args`` keys, or
:class:`~insight_widget.Batch` objects; and a map-style torch ``Dataset`` (batched here with
``batch_size``). Batches larger than ``batch_size`` are split so one ``attribute`` call never
holds more than ``batch_size`` examples. Every example gets an id: its position in the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..attr.core import describe
from ..widget.batch import Batch


@dataclass
class SourceBatch:
    """One batch to attribute: ``inputs`` (tensors sharing dim 0 = n), ``labels`` (n,) or
    None, extra model arguments, and the ids of its examples (positions in the stream)."""

    index: int
    example_ids: Tensor
    inputs: Tuple[Tensor, ...]
    labels: Optional[Tensor]
    additional_forward_args: Any
    is_tuple: bool

    @property
    def size(self) -> int:
        return self.inputs[0].shape[0]

    def ids(self) -> Tensor:
        return self.example_ids

    def select(self, rows: Tensor) -> SourceBatch:
        """The examples at positions ``rows`` of this batch."""
        extra = self.additional_forward_args
        if extra is not None:
            extra = _select_args(extra, rows, self.size)
        labels = None if self.labels is None else self.labels.index_select(0, rows)
        inputs = tuple(t.index_select(0, rows) for t in self.inputs)
        return SourceBatch(self.index, self.example_ids.index_select(0, rows), inputs, labels,
                           extra, self.is_tuple)

    def describe(self) -> str:
        ids = self.example_ids
        span = f"example {int(ids[0])}" if ids.numel() == 1 else \
            f"examples {int(ids.min())}-{int(ids.max())}"
        return f"batch {self.index} ({span})"


def _select_args(args: Any, rows: Tensor, size: int) -> Any:
    values = args if isinstance(args, tuple) else (args,)
    chosen = tuple(v.index_select(0, rows) if isinstance(v, Tensor) and v.dim() and
                   v.shape[0] == size else v for v in values)
    return chosen if isinstance(args, tuple) else chosen[0]


def _unpack(item: Any, index: int) -> Tuple[Any, Any, Any]:
    """(inputs, labels, additional_forward_args) of one yielded item."""
    if isinstance(item, Batch):
        return item.input_tuple(), item.label_tensor(), item.additional_args
    if isinstance(item, Tensor):
        return item, None, None
    if isinstance(item, dict):
        if "inputs" not in item:
            raise ValueError(f"`data` batch {index} is a dict without an 'inputs' key; got keys "
                             f"{sorted(item)}.")
        labels = item.get("labels", item.get("label"))
        return item["inputs"], labels, item.get("additional_forward_args")
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1], None
    raise TypeError(
        f"`data` must yield input tensors, (inputs, labels) pairs, dicts with 'inputs' or "
        f"insight_widget.Batch objects; batch {index} is {describe(item)} (use Batch for "
        "several inputs)."
    )


def _as_tensor(value: Any, what: str, index: int) -> Tensor:
    if isinstance(value, Tensor):
        return value
    raise TypeError(f"`data` batch {index}: {what} must be a tensor; got {describe(value)}.")


class ShapeChangeError(ValueError):
    """A batch's example shape differs from the first batch's (bad data: never skipped)."""


class ShapeCheck:
    """Remembers the per-example input shapes of the first batch it sees and returns a
    :class:`ShapeChangeError` for a later batch with other shapes (None when they match). One
    check for both engines: the single process checks each batch it reads, the Ray driver
    each batch it hands out or receives."""

    def __init__(self) -> None:
        self.shapes: Optional[List[Tuple[int, ...]]] = None

    @staticmethod
    def of(inputs: Sequence[Tensor]) -> List[Tuple[int, ...]]:
        return [tuple(t.shape[1:]) for t in inputs]

    def __call__(self, shapes: List[Tuple[int, ...]]) -> Optional[ShapeChangeError]:
        if self.shapes is None:
            self.shapes = list(shapes)
            return None
        if list(shapes) == self.shapes:
            return None
        return ShapeChangeError(f"inputs of shape(s) {list(shapes)} per example, but earlier "
                                f"batches had {self.shapes}; every batch must have the same "
                                "example shape")


def is_ray_dataset(data: Any) -> bool:
    """True for a Ray Data ``Dataset`` (checked without importing Ray)."""
    return (type(data).__module__ or "").startswith("ray.data") and hasattr(data, "map_batches")


def iterate_batches(data: Any, batch_size: Optional[int]) -> Iterator[SourceBatch]:
    """The batches of ``data``, split to at most ``batch_size`` examples, numbered in order."""
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(
            data, torch.utils.data.IterableDataset) and hasattr(data, "__getitem__"):
        data = torch.utils.data.DataLoader(data, batch_size=batch_size or 32)
    try:
        items = iter(data)
    except TypeError:
        raise TypeError(f"`data` must be a DataLoader, an iterable of batches or a Ray Dataset; "
                        f"got {describe(data)}.") from None
    position, number = 0, 0
    for raw_index, item in enumerate(items):
        inputs, labels, extra = _unpack(item, raw_index)
        is_tuple = isinstance(inputs, (tuple, list))
        tensors = tuple(_as_tensor(t, "inputs", raw_index)
                        for t in (inputs if is_tuple else (inputs,)))
        if not tensors or any(t.dim() == 0 for t in tensors) or len(
                {t.shape[0] for t in tensors}) != 1:
            raise ValueError(f"`data` batch {raw_index}: every input needs dim 0 = examples of "
                             f"one size; got shapes {[tuple(t.shape) for t in tensors]}.")
        size = tensors[0].shape[0]
        if labels is not None:
            labels = torch.as_tensor(labels).reshape(-1)
            if labels.shape[0] != size:
                raise ValueError(f"`data` batch {raw_index}: {labels.shape[0]} labels for {size} "
                                 "examples.")
        ids = torch.arange(position, position + size, dtype=torch.int64)
        whole = SourceBatch(number, ids, tensors, labels, extra, is_tuple)
        step = batch_size or size
        for offset in range(0, size, max(step, 1)):
            if offset == 0 and step >= size:
                part = whole
            else:
                rows = torch.arange(offset, min(offset + step, size))
                part = whole.select(rows)
            part.index = number
            yield part
            number += 1
        position += size
