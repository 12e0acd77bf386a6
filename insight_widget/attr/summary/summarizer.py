"""Summarizers: keep running statistics of attributions (or any tensors) over a dataset.

>>> summarizer = Summarizer([Mean(), StdDev()])
>>> for batch in loader:
...     summarizer.update(attributions_of(batch))   # each call adds ONE sample
>>> summarizer.summary["mean"]

Each ``update`` adds its argument as one sample: the statistics are element-wise over the
sequence of updates (Captum's semantics); a tuple holds one tensor per input and gives one
summary per input. See :class:`~insight_widget.attr.summary.ClassSummarizer` to add the
examples of a batch one by one, per class.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from .._utils.validation import describe
from .stat import Stat, StatValue

Summary = Optional[Dict[str, Optional[StatValue]]]


def with_dependencies(stats: Sequence[Stat]) -> Tuple[List[Stat], List[int]]:
    """Fresh copies of ``stats`` (equal statistics kept once, the first wins) plus the
    statistics they depend on, dependencies first; and the positions of the requested ones."""
    for stat in stats:
        if not isinstance(stat, Stat):
            raise TypeError(f"`stats` must hold Stat objects (Mean(), StdDev(), ...); got "
                            f"{describe(stat)}.")
    ordered: List[Stat] = []
    requested: List[Stat] = []

    def add(stat: Stat) -> Stat:
        for existing in ordered:
            if existing == stat:
                return existing
        for dependency in stat.dependencies():
            add(dependency)
        copy = stat.fresh()
        ordered.append(copy)
        return copy

    for stat in stats:
        copy = add(stat)
        if copy not in requested:
            requested.append(copy)
    return ordered, [ordered.index(stat) for stat in requested]


class SummarizerSingleTensor:
    """Statistics of one stream of tensors.

    Args:
        stats: every statistic to update, in update order (dependencies first).
        summary_stats_indices: positions in ``stats`` of the statistics ``summary`` reports.
    """

    def __init__(self, stats: List[Stat], summary_stats_indices: List[int]) -> None:
        self._stats = list(stats)
        self._summary_indices = list(summary_stats_indices)
        self._by_stat: Dict[Stat, Stat] = {}
        for stat in self._stats:
            self._by_stat.setdefault(stat, stat)
            stat.attach(self._lookup)
        self._updated = False

    def _lookup(self, wanted: Stat) -> Stat:
        found = self._by_stat.get(wanted)
        if found is None:
            raise RuntimeError(f"this summarizer does not track {type(wanted).__name__}; add "
                               "it (with its dependencies) to the stats.")
        return found

    def get(self, stat: Stat) -> Optional[Stat]:
        """The tracked statistic equal to ``stat`` (same class and order), or None."""
        return self._by_stat.get(stat)

    def update(self, x: Tensor) -> None:
        """Add ``x`` as one sample."""
        for stat in self._stats:
            stat.update(x)
        self._updated = True

    def update_many(self, xs: Tensor) -> None:
        """Add ``xs[0], xs[1], ...`` as samples, vectorised where the statistics allow."""
        if xs.shape[0] == 0:
            return
        for stat in self._stats:
            stat.update_many(xs)
        self._updated = True

    @property
    def summary(self) -> Summary:
        """``{name: value}`` of the reported statistics."""
        return {self._stats[i].name: self._stats[i].get() for i in self._summary_indices}


class Summarizer:
    """Running statistics of tensors (or tuples of tensors, one summary per input).

    Args:
        stats: the statistics to track, e.g. ``[Mean(), StdDev()]`` or ``CommonStats()``;
            the statistics they depend on are tracked too but not reported.
    """

    def __init__(self, stats: List[Stat]) -> None:
        if not isinstance(stats, (list, tuple)):
            raise TypeError(f"`stats` must be a list of Stat objects; got {describe(stats)}.")
        self._stats = list(stats)
        with_dependencies(self._stats)  # validate now rather than at the first update
        self._summarizers: List[SummarizerSingleTensor] = []
        self._is_inputs_tuple: Optional[bool] = None

    def _new_single(self) -> SummarizerSingleTensor:
        ordered, indices = with_dependencies(self._stats)
        return SummarizerSingleTensor(ordered, indices)

    def _format(self, x: Union[float, int, Tensor, Tuple[Union[float, Tensor], ...]]
                ) -> Tuple[Tensor, ...]:
        is_tuple = isinstance(x, tuple)
        values = x if is_tuple else (x,)
        tensors = []
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (Tensor, int, float)):
                raise TypeError(f"`x` must be a tensor, a number or a tuple of them; got "
                                f"{describe(value)}.")
            tensors.append(value if isinstance(value, Tensor) else torch.tensor(value))
        if self._is_inputs_tuple is None:
            self._is_inputs_tuple = is_tuple
            self._summarizers = [self._new_single() for _ in tensors]
        elif self._is_inputs_tuple != is_tuple or len(tensors) != len(self._summarizers):
            raise ValueError(
                f"`x` must keep the form of the first update ("
                f"{self._describe_form()}); got {describe(x)}."
            )
        return tuple(t.detach() for t in tensors)

    def _describe_form(self) -> str:
        if self._is_inputs_tuple:
            return f"a tuple of {len(self._summarizers)} tensors"
        return "a single tensor"

    def update(self, x: Union[float, int, Tensor, Tuple[Union[float, Tensor], ...]]) -> None:
        """Add ``x`` (a tensor, number, or tuple with one per input) as one sample."""
        tensors = self._format(x)  # creates the per-input summarizers on the first update
        for summarizer, tensor in zip(self._summarizers, tensors):
            summarizer.update(tensor)

    def _update_examples(self, x: Tuple[Tensor, ...]) -> None:
        """Add every example (dim 0) of each tensor of ``x`` as one sample."""
        tensors = self._format(x)
        for summarizer, tensor in zip(self._summarizers, tensors):
            summarizer.update_many(tensor)

    @property
    def summary(self) -> Optional[Union[Dict[str, Optional[StatValue]],
                                        List[Dict[str, Optional[StatValue]]]]]:
        """``{name: value}`` (a list of them, one per input, for tuple updates); None before
        the first update."""
        if not self._summarizers:
            return None
        summaries = [s.summary for s in self._summarizers]
        return summaries if self._is_inputs_tuple else summaries[0]
