"""Reading a visualiser's dataset: bounded scans, a clear end, and nothing skipped.

Captum Insights looped forever when a filter matched nothing or labels were missing, and cycled
a finite dataset silently. Here a scan reads at most ``max_batches`` batches, reports the end
of the dataset, and keeps the examples of a batch that a fetch did not need for the next fetch.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Deque, Iterable, Iterator, List, Optional

from ..attr.core import describe
from .attribution import PreparedExample
from .batch import Batch


class DatasetReader:
    """Iterates ``dataset`` (any iterable of :class:`Batch`) one batch at a time."""

    def __init__(self, dataset: Iterable[Batch]) -> None:
        try:
            self._iterator: Iterator[Any] = iter(dataset)
        except TypeError:
            raise TypeError(f"`dataset` must be an iterable of Batch; got {describe(dataset)}."
                            ) from None
        self.dataset = dataset
        self._peeked: Deque[Batch] = deque()
        self.pending: Deque[Any] = deque()  # prepared examples left over by the last fetch
        self.batches_read = 0
        self.ended = False

    @property
    def one_shot(self) -> bool:
        """True when the dataset is an iterator that cannot be read again."""
        return iter(self.dataset) is self.dataset

    def peek(self) -> Optional[Batch]:
        """The next batch without consuming it (None at the end)."""
        if not self._peeked:
            batch = self._pull()
            if batch is None:
                return None
            self._peeked.append(batch)
        return self._peeked[0]

    def next_batch(self) -> Optional[Batch]:
        """The next batch, or None at the end of the dataset (then ``ended`` is True)."""
        batch = self._peeked.popleft() if self._peeked else self._pull()
        if batch is not None:
            self.batches_read += 1
        return batch

    def restart(self) -> bool:
        """Start again from the first batch; False when the dataset cannot be re-read."""
        if self.one_shot:
            return False
        self._iterator = iter(self.dataset)
        self._peeked.clear()
        self.pending.clear()
        self.batches_read = 0
        self.ended = False
        return True

    def _pull(self) -> Optional[Batch]:
        if self.ended:
            return None
        try:
            batch = next(self._iterator)
        except StopIteration:
            self.ended = True
            return None
        if not isinstance(batch, Batch):
            raise TypeError("`dataset` must yield insight_widget.Batch objects; got "
                            f"{describe(batch)} (wrap inputs and labels in Batch(inputs, labels)).")
        return batch


class FetchResult:
    """What one fetch found: the examples and how the scan ended."""

    def __init__(self) -> None:
        self.examples: List[PreparedExample] = []
        self.scanned = 0
        self.dataset_end = False
        self.message = ""
