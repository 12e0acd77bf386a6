"""Summaries per class (label) plus the overall summary (Captum's ``ClassSummarizer``)."""

from __future__ import annotations

from typing import Any, Dict, Hashable, List, Tuple

import torch
from torch import Tensor

from .._utils.inputs import format_inputs
from .._utils.validation import describe
from .stat import Stat
from .summarizer import Summarizer


class ClassSummarizer(Summarizer):
    """A :class:`Summarizer` that also keeps one summary per class.

    ``update(x, labels)`` with labels adds every example of the batch ``x`` (dim 0) as one
    sample, to the overall summary and to its class's; without labels, ``x`` is one sample of
    the overall summary only (Captum's semantics). The examples of one class are added in a
    single vectorised step (Chan et al.'s combination for the variance family; results equal
    example-by-example updates up to float rounding).

    Differences from Captum: tensor labels are turned into Python numbers (Captum keys its
    dictionary by the label tensors themselves, so equal labels land in different entries),
    and a 0-d tensor label is accepted as one label for every example.
    """

    def __init__(self, stats: List[Stat]) -> None:
        super().__init__(stats)
        self._class_summarizers: Dict[Hashable, Summarizer] = {}

    def update(self, x: Any, labels: Any = None) -> None:  # type: ignore[override]
        """Add ``x`` (tensor or tuple of tensors, dim 0 = examples) with its ``labels``: one
        label for all examples (int, str, tuple, 0-d tensor), or one per example (list or
        1-D tensor of length N); None adds ``x`` as one sample of the overall summary."""
        if labels is None:
            super().update(x)
            return
        tensors, _ = format_inputs(x, "x")
        n = tensors[0].shape[0]
        per_example = _labels(labels, n)
        groups: Dict[Hashable, List[int]] = {}
        for index, label in enumerate(per_example):
            groups.setdefault(label, []).append(index)
        self._update_examples(tensors)
        for label, rows in groups.items():
            summarizer = self._class_summarizers.get(label)
            if summarizer is None:
                summarizer = self._class_summarizers[label] = Summarizer(self._stats)
            chosen = torch.tensor(rows, device=tensors[0].device)
            summarizer._update_examples(tuple(t.index_select(0, chosen) for t in tensors))

    @property
    def class_summaries(self) -> Dict[Any, Any]:
        """``{label: summary}`` for every label seen."""
        return {label: s.summary for label, s in self._class_summarizers.items()}


def _labels(labels: Any, n: int) -> Tuple[Hashable, ...]:
    """One hashable label per example."""
    if isinstance(labels, Tensor):
        if labels.dim() == 0:
            return (labels.item(),) * n
        if labels.dim() != 1:
            raise ValueError(f"`labels` must be a 1-D tensor (one per example); got shape "
                             f"{tuple(labels.shape)}.")
        labels = labels.tolist()
    if isinstance(labels, list):
        if len(labels) == 1:
            labels = labels * n
        if len(labels) != n:
            raise ValueError(
                f"`labels` must have one label per example ({n}) or a single one; got "
                f"{len(labels)}."
            )
        for label in labels:
            _check_hashable(label)
        return tuple(labels)
    _check_hashable(labels)
    return (labels,) * n


def _check_hashable(label: Any) -> None:
    try:
        hash(label)
    except TypeError:
        raise TypeError(f"each label must be hashable (usable as a dict key); got "
                        f"{describe(label)}.") from None
