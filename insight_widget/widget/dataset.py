"""Reading a visualiser's dataset: bounded scans, a clear end, and nothing skipped.

Captum Insights looped forever when a filter matched nothing or labels were missing, and cycled
a finite dataset silently. Here a scan reads at most ``max_batches`` batches, reports the end
of the dataset, and keeps the examples of a batch that a fetch did not need for the next fetch.

:class:`DatasetReader` reads batches; :class:`ExampleScanner` turns them into prepared,
predicted examples, keeps those that pass the filters (:meth:`ExampleScanner.fetch`) and
remembers them by id for later target changes.
"""

from __future__ import annotations

import bisect
import itertools
from collections import OrderedDict, deque
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sequence

import torch
from torch import Tensor

from ..attr.core import describe
from .attribution import PreparedExample, model_output, slice_args, top_predictions
from .batch import Batch
from .features import BaseFeature

PREDICTIONS = ("all", "correct", "incorrect")
MAX_EXAMPLES = 64
#: prepared examples kept for target changes (older ones are dropped first)
EXAMPLE_CACHE = 256


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
        #: more fields for the request's "done" message (a store page: where the page is)
        self.extra: Dict[str, Any] = {}


def class_name(classes: Sequence[str], index: Optional[int]) -> Optional[str]:
    """The name of class ``index`` (its number as text when out of range; None for None)."""
    if index is None:
        return None
    return classes[index] if 0 <= index < len(classes) else str(index)


class ExampleScanner:
    """Fetches a visualiser's examples from ``dataset``: each batch is split into examples
    (``input_transforms`` applied), predicted by every model in one batched pass, filtered,
    and kept by id (the newest :data:`EXAMPLE_CACHE`)."""

    def __init__(self, dataset: Iterable[Batch], features: Sequence[BaseFeature],
                 models: Sequence[Callable[..., Any]], classes: Sequence[str],
                 score_func: Optional[Callable[[Tensor], Tensor]]) -> None:
        self.reader = DatasetReader(dataset)
        self.features = list(features)
        self.models = list(models)
        self.classes = list(classes)
        self.score_func = score_func
        self._examples: OrderedDict[int, PreparedExample] = OrderedDict()
        self._ids = itertools.count()
        self._positions = itertools.count()
        self._offsets: Optional[List[int]] = None  # first position of each batch (lists)

    def prepare_rows(self, batch: Batch, rows: Sequence[int]) -> List[PreparedExample]:
        inputs = batch.input_tuple()
        labels = batch.label_tensor()
        size = inputs[0].shape[0]
        if labels is not None and labels.numel() != size:
            raise ValueError(f"`Batch.labels` has {labels.numel()} entries for {size} examples.")
        prepared = []
        for row in rows:
            raw = tuple(t[row:row + 1] for t in inputs)
            transformed = []
            for feature, value in zip(self.features, raw):
                try:
                    transformed.append(feature.transform_input(value))
                except Exception as error:
                    raise ValueError(f"input_transforms of feature {feature.name!r} failed on an "
                                     f"input of shape {tuple(value.shape)}: {error}") from error
            label = None if labels is None else int(labels[row])
            prepared.append(PreparedExample(
                id=-1, position=-1, raw=raw, inputs=tuple(transformed),
                additional_args=slice_args(batch.additional_args, row, size), label=label))
        return prepared

    def predict(self, examples: List[PreparedExample]) -> None:
        """Top-k predictions of every model for ``examples`` (batched per model)."""
        if not examples:
            return
        shapes = {tuple(tuple(t.shape) for t in e.inputs) for e in examples}
        for _index, model in enumerate(self.models):
            if len(shapes) == 1 and all(e.additional_args is None for e in examples):
                stacked = [torch.cat(parts, 0) for parts in zip(*(e.inputs for e in examples))]
                scores = model_output(model, stacked, None, self.score_func)
                rows = top_predictions(scores, len(self.classes))
            else:  # ragged inputs or per-example args: one forward per example
                rows = [top_predictions(model_output(model, e.inputs, e.additional_args,
                                                     self.score_func), len(self.classes))[0]
                        for e in examples]
            for example, row in zip(examples, rows):
                example.predictions.append(row)

    def _keep(self, example: PreparedExample, prediction: str, classes: Sequence[str]) -> bool:
        tops = [p[0]["index"] for p in example.predictions]
        if classes:
            names = {class_name(self.classes, i) for i in tops}
            if example.label is not None:
                names.add(class_name(self.classes, example.label))
            if not names & set(classes):
                return False
        if prediction == "all":
            return True
        if example.label is None:
            return False  # correctness is undefined without a label
        right = [t == example.label for t in tops]
        return all(right) if prediction == "correct" else not all(right)

    def fetch(self, num_examples: int = 4, prediction: str = "all",
              classes: Sequence[str] = (), max_batches: int = 64,
              restart: bool = False, should_stop: Callable[[], bool] = lambda: False,
              on_batch: Optional[Callable[[int, int], Any]] = None) -> FetchResult:
        """Read the dataset until ``num_examples`` examples pass the filters, at most
        ``max_batches`` batches, or the end of the dataset. Never loops forever.
        ``on_batch(batches_read, examples_scanned)`` is called after each batch read."""
        if prediction not in PREDICTIONS:
            raise ValueError(f"`prediction` must be one of {list(PREDICTIONS)}; "
                             f"got {prediction!r}.")
        unknown = [c for c in classes if c not in self.classes]
        if unknown:
            raise ValueError(f"`classes` filter has unknown class names {unknown}.")
        if not 1 <= int(num_examples) <= MAX_EXAMPLES:
            raise ValueError(f"`num_examples` must be in [1, {MAX_EXAMPLES}]; got {num_examples}.")
        result = FetchResult()
        reader = self.reader
        if (restart or (reader.ended and not reader.pending)) and not reader.restart():
            result.dataset_end = True
            result.message = ("The dataset is a one-shot iterator and has been read to the "
                              "end; pass a list or a re-iterable dataset to read it again.")
            return result
        batches = 0
        while len(result.examples) < num_examples:
            if should_stop():
                return result
            if not reader.pending:
                if batches >= max_batches:
                    break
                batch = reader.next_batch()
                if batch is None:
                    result.dataset_end = True
                    break
                batches += 1
                rows = self.prepare_rows(batch, range(len(batch)))
                self.predict(rows)
                reader.pending.extend(rows)
                if on_batch is not None:
                    on_batch(batches, result.scanned)
            example = reader.pending.popleft()
            example.position = next(self._positions)
            result.scanned += 1
            if self._keep(example, prediction, classes):
                example.id = next(self._ids)
                self._remember(example)
                result.examples.append(example)
        result.message = self._scan_message(result, num_examples, prediction, classes,
                                            max_batches)
        return result

    def read_positions(self, positions: Sequence[int],
                       should_stop: Callable[[], bool] = lambda: False) -> List[PreparedExample]:
        """The examples at stream ``positions`` of the dataset (a store's ids), prepared,
        predicted (one batched pass per model) and remembered, in the order asked. Reads the
        dataset from its start up to the last position (a list or tuple of batches is indexed
        directly); a one-shot iterator cannot be read again (ValueError)."""
        wanted = sorted(set(int(p) for p in positions))
        if not wanted:
            return []
        if self.reader.one_shot:
            raise ValueError("browsing a store needs a dataset that can be read again (a list "
                             "of Batch, or a re-iterable loader); got a one-shot iterator.")
        found: Dict[int, PreparedExample] = {}
        for offset, batch in self._batches_from(wanted[0]):
            if should_stop() or offset > wanted[-1]:
                break
            rows = [p - offset for p in wanted if offset <= p < offset + len(batch)]
            for row, example in zip(rows, self.prepare_rows(batch, rows)):
                example.position = offset + row
                found[example.position] = example
        missing = [p for p in wanted if p not in found]
        if missing and not should_stop():
            raise ValueError(f"the dataset has no examples at positions {missing[:10]}: it is "
                             "not the data the store was written from (same order).")
        examples = [found[int(p)] for p in positions if int(p) in found]
        self.predict(examples)
        for example in examples:
            example.id = next(self._ids)
            self._remember(example)
        return examples

    def _batches_from(self, position: int) -> Iterator[Any]:
        """(offset of the batch's first example, batch) from the batch holding ``position``;
        a list or tuple dataset is indexed by its batches' cumulative sizes (measured once)."""
        dataset = self.reader.dataset
        if isinstance(dataset, (list, tuple)):
            if self._offsets is None or len(self._offsets) != len(dataset) + 1:
                sizes = [len(b) for b in dataset]
                self._offsets = [0, *itertools.accumulate(sizes)]
            first = max(0, bisect.bisect_right(self._offsets, position) - 1)
            for k in range(first, len(dataset)):
                yield self._offsets[k], dataset[k]
            return
        offset = 0
        for batch in dataset:
            if offset + len(batch) > position:
                yield offset, batch
            offset += len(batch)

    def _scan_message(self, result: FetchResult, wanted: int, prediction: str,
                      classes: Sequence[str], max_batches: int) -> str:
        filters = []
        if classes:
            filters.append(f"classes {list(classes)}")
        if prediction != "all":
            filters.append(f"{prediction} predictions")
        described = " and ".join(filters) or "no filter"
        if not result.examples:
            where = ("before the end of the dataset" if result.dataset_end
                     else f"in {max_batches} batches")
            return (f"No example matches {described}: scanned {result.scanned} examples "
                    f"{where}. Relax the filters or fetch again to scan further.")
        if result.dataset_end:
            return (f"End of the dataset: {len(result.examples)} of {wanted} examples found; "
                    "fetch again to start from the beginning.")
        if len(result.examples) < wanted:
            return (f"Found {len(result.examples)} of {wanted} examples matching {described} "
                    f"in {max_batches} batches; fetch again to scan further.")
        return ""

    def _remember(self, example: PreparedExample) -> None:
        self._examples[example.id] = example
        while len(self._examples) > EXAMPLE_CACHE:
            self._examples.popitem(last=False)

    def example(self, example_id: int) -> PreparedExample:
        try:
            return self._examples[example_id]
        except KeyError:
            raise ValueError(f"example {example_id} is no longer cached; fetch again.") from None
