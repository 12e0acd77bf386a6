"""Per-feature statistics of attributions over a dataset, mergeable exactly.

Captum's :class:`~insight_widget.attr.summary.Summarizer` folds one stream of tensors; over a
dataset written in shards by several workers the partial statistics must be *combined*. A
:class:`Moments` holds, per feature (element of the attribution), the count n, the mean, M2 =
sum (x - mean)^2, the minimum and the maximum in float64. Two of them merge exactly (Chan,
Golub & LeVeque's parallel update, which Welford's algorithm is the n_b = 1 case of)::

    n     = n_a + n_b
    delta = mean_b - mean_a
    mean  = mean_a + delta * n_b / n
    M2    = M2_a + M2_b + delta^2 * n_a * n_b / n

so the result does not depend on how the examples were split into batches, shards or workers
(up to float64 rounding). A :class:`FeatureSummary` keeps the moments of the attributions and
of their absolute values; a :class:`DatasetSummary` keeps one overall and one per class (per
input, for multi-input models).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Dict, Hashable, List, Optional, Sequence, Set, Tuple

import numpy as np
import torch
from torch import Tensor

# batches are summarised together until FOLD_ROWS examples or FOLD_BYTES of maps are pending
# (see DatasetSummary.update): bounded memory, and the per-fold work paid once per fold
FOLD_ROWS = 256
FOLD_BYTES = 4 << 20


@dataclass
class Moments:
    """Count, mean, M2, min and max of a stream of tensors of one shape (float64)."""

    count: int
    mean: Tensor
    m2: Tensor
    minimum: Tensor
    maximum: Tensor

    @classmethod
    def of(cls, samples: Tensor) -> Moments:
        """The moments of ``samples`` (n, *shape), n >= 1, one sample per row."""
        samples = samples.detach().to(torch.float64)
        variance, mean = torch.var_mean(samples, dim=0, correction=0)
        minimum, maximum = torch.aminmax(samples, dim=0)
        return cls(samples.shape[0], mean, variance * samples.shape[0], minimum, maximum)

    @classmethod
    def grouped(cls, samples: Tensor, groups: Tensor, count: int) -> List[Moments]:
        """The moments of each group of rows of ``samples`` (n, *shape): ``groups`` (n,) holds
        each row's group in [0, count), every group has a row. One vectorised pass for all
        groups (sums and squared deviations added per group with ``index_add_``, extremes
        with ``scatter_reduce_``) instead of one reduction per group: the same two-pass
        mean and M2 as :meth:`of`, equal to float64 rounding. The extremes are taken in the
        samples' own floating dtype (exact: widening to float64 keeps every value)."""
        shape = samples.shape[1:]
        flat = samples.detach().reshape(samples.shape[0], -1)
        x = flat.to(torch.float64)
        if not flat.is_floating_point():
            flat = x
        sizes = torch.bincount(groups, minlength=count)
        mean = x.new_zeros(count, x.shape[1]).index_add_(0, groups, x) / sizes.unsqueeze(1)
        deviation = x - mean.index_select(0, groups)
        m2 = x.new_zeros(count, x.shape[1]).index_add_(0, groups, deviation.square_())
        rows = groups.unsqueeze(1).expand_as(flat)
        low = flat.new_zeros(count, x.shape[1]).scatter_reduce_(0, rows, flat, "amin",
                                                                include_self=False)
        high = flat.new_zeros(count, x.shape[1]).scatter_reduce_(0, rows, flat, "amax",
                                                                 include_self=False)
        low, high = low.to(torch.float64), high.to(torch.float64)
        return [cls(int(sizes[k]), mean[k].reshape(shape), m2[k].reshape(shape),
                    low[k].reshape(shape), high[k].reshape(shape)) for k in range(count)]

    def merge(self, other: Moments) -> Moments:
        """The moments of both streams together (exact; see the module docstring)."""
        if other.mean.shape != self.mean.shape:
            raise ValueError(f"cannot merge statistics of shape {tuple(other.mean.shape)} into "
                             f"statistics of shape {tuple(self.mean.shape)}.")
        count = self.count + other.count
        delta = other.mean - self.mean
        share = other.count / count
        return Moments(
            count,
            self.mean + delta * share,
            self.m2 + other.m2 + delta ** 2 * (self.count * share),
            torch.minimum(self.minimum, other.minimum),
            torch.maximum(self.maximum, other.maximum),
        )

    def variance(self, order: int = 0) -> Tensor:
        """M2 / (n - order): ``order=0`` the population variance (Captum's ``Var()``),
        ``order=1`` the sample variance; zeros while n <= order."""
        if self.count <= order:
            return torch.zeros_like(self.m2)
        return self.m2 / (self.count - order)


def _merge_optional(a: Optional[Moments], b: Optional[Moments]) -> Optional[Moments]:
    if a is None:
        return b
    if b is None:
        return a
    return a.merge(b)


@dataclass
class FeatureSummary:
    """Statistics per feature of attributions (``signed``) and of |attributions|
    (``absolute``); every tensor has the shape of one example's attribution."""

    signed: Moments
    absolute: Moments

    @classmethod
    def of(cls, attributions: Tensor) -> FeatureSummary:
        """Summary of ``attributions`` (n, *shape)."""
        return cls(Moments.of(attributions), Moments.of(attributions.abs()))

    def merge(self, other: FeatureSummary) -> FeatureSummary:
        return FeatureSummary(self.signed.merge(other.signed),
                              self.absolute.merge(other.absolute))

    @property
    def count(self) -> int:
        return self.signed.count

    def as_dict(self) -> Dict[str, object]:
        """The statistics under Captum's summary names (``mean``, ``variance`` = population
        variance, ``sample_variance``, ``std_dev``, ``sample_std_dev``, ``min``, ``max``,
        ``count``) plus the same with an ``abs_`` prefix for |attributions|."""
        out: Dict[str, object] = {"count": self.count}
        for prefix, moments in (("", self.signed), ("abs_", self.absolute)):
            out[prefix + "mean"] = moments.mean
            out[prefix + "variance"] = moments.variance(0)
            out[prefix + "sample_variance"] = moments.variance(1)
            out[prefix + "std_dev"] = moments.variance(0).sqrt()
            out[prefix + "sample_std_dev"] = moments.variance(1).sqrt()
            out[prefix + "min"] = moments.minimum
            out[prefix + "max"] = moments.maximum
        return out


class DatasetSummary:
    """Feature summaries of a dataset's attributions: overall and per class, one per input.

    ``update(attributions, classes)`` adds a batch (a tuple with one tensor (n, *shape) per
    input; ``classes`` a length-n integer tensor, or None); ``merge`` combines summaries of
    disjoint parts of the data. ``overall`` and ``per_class[c]`` hold a
    :class:`FeatureSummary` for a single-input model and a tuple of them otherwise.
    """

    def __init__(self) -> None:
        self._overall: Optional[List[FeatureSummary]] = None
        self._classes: Dict[Hashable, List[FeatureSummary]] = {}
        self.is_tuple = False
        self.skipped: List[int] = []  # ids of examples whose batch raised (on_error='skip')
        # batches not yet folded in: summarised together, FOLD_ROWS examples at a time
        self._pending: List[Tuple[Tuple[Tensor, ...], Optional[Tensor]]] = []
        self._pending_rows = 0
        self._pending_bytes = 0
        self._keys: Set[Hashable] = set()

    # -- building ---------------------------------------------------------------------------
    def update(self, attributions: Sequence[Tensor], classes: Optional[Tensor] = None,
               is_tuple: bool = False) -> None:
        """Add the examples (dim 0) of ``attributions``; each example also to its class.

        The tensors are kept (not copied) until ``FOLD_ROWS`` examples (or ``FOLD_BYTES``)
        are pending, then
        summarised in one grouped pass: the per-call work and the merges into the running
        moments are paid once per fold rather than once per batch. Every reader folds first,
        so the statistics are never stale; the callers must not modify the tensors."""
        if attributions[0].shape[0] == 0:
            return
        self.is_tuple = is_tuple
        attributions = tuple(a.detach() for a in attributions)
        if self._pending and ((classes is None) != (self._pending[0][1] is None) or [
                a.shape[1:] for a in attributions] != [a.shape[1:] for a in self._pending[0][0]]):
            self._fold()  # fold alike batches only (a shape error is then raised by merge)
        if classes is not None:
            classes = classes.reshape(-1)
            self._keys.update(torch.unique(classes).tolist())
        self._pending.append((attributions, classes))
        self._pending_rows += attributions[0].shape[0]
        self._pending_bytes += sum(a.numel() * a.element_size() for a in attributions)
        if self._pending_rows >= FOLD_ROWS or self._pending_bytes >= FOLD_BYTES:
            self._fold()

    def _fold(self) -> None:
        """Summarise the pending batches: per class in one grouped pass (the batch's overall
        moments are the merge of its classes'); |attributions| share the moments of the
        attributions when none is negative (Saliency's default, many others)."""
        if not self._pending:
            return
        pending, self._pending, self._pending_rows = self._pending, [], 0
        self._pending_bytes = 0
        attributions = tuple(group[0] if len(group) == 1 else torch.cat(group)
                             for group in zip(*(a for a, _ in pending)))
        if pending[0][1] is None:
            values: List[Hashable] = []
            groups = torch.zeros(attributions[0].shape[0], dtype=torch.int64)
        else:
            found, groups = torch.unique(torch.cat([c for _, c in pending]),
                                         return_inverse=True)
            values = found.tolist()
        count = max(len(values), 1)
        parts = []
        for a in attributions:
            signed = Moments.grouped(a, groups, count)
            # min >= 0 (False for NaN) means |a| = a: the same moments, exactly
            absolute = signed if bool(a.min() >= 0) else Moments.grouped(a.abs(), groups, count)
            parts.append([FeatureSummary(s, b) for s, b in zip(signed, absolute)])
        batch: Optional[List[FeatureSummary]] = None
        for k in range(count):
            part = [per_input[k] for per_input in parts]
            if values:
                self._classes[values[k]] = _merge_lists(self._classes.get(values[k]), part)
            batch = _merge_lists(batch, part)
        self._overall = _merge_lists(self._overall, batch)

    @property
    def class_keys(self) -> Set[Hashable]:
        """Classes seen so far (pending batches included: no fold needed)."""
        return self._keys | set(self._classes)

    def merge(self, other: DatasetSummary) -> DatasetSummary:
        """A new summary of both parts."""
        self._fold()
        other._fold()
        merged = DatasetSummary()
        merged.is_tuple = self.is_tuple or other.is_tuple
        merged._overall = _merge_lists(self._overall, other._overall)
        for key in set(self._classes) | set(other._classes):
            merged._classes[key] = _merge_lists(self._classes.get(key), other._classes.get(key))
        return merged

    # -- reading ----------------------------------------------------------------------------
    def _shape(self, summaries: Optional[List[FeatureSummary]]):
        if summaries is None:
            return None
        return tuple(summaries) if self.is_tuple else summaries[0]

    @property
    def count(self) -> int:
        """Number of examples summarised (pending ones included)."""
        return (0 if self._overall is None else self._overall[0].count) + self._pending_rows

    @property
    def overall(self):
        """:class:`FeatureSummary` of every example (a tuple per input), None when empty."""
        self._fold()
        return self._shape(self._overall)

    @property
    def per_class(self) -> Dict[Hashable, object]:
        """``{class: FeatureSummary}`` (tuples per input), classes sorted."""
        self._fold()
        return {key: self._shape(self._classes[key]) for key in sorted(self._classes)}

    # -- persistence ------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The summary as an ``.npz`` archive (float64 arrays, exact)."""
        self._fold()
        arrays: Dict[str, np.ndarray] = {"is_tuple": np.array(self.is_tuple)}
        groups = {"overall": self._overall} if self._overall is not None else {}
        groups.update({f"class={key}": value for key, value in self._classes.items()})
        for group, summaries in groups.items():
            for index, summary in enumerate(summaries):
                for kind, moments in (("signed", summary.signed), ("absolute", summary.absolute)):
                    prefix = f"{group}/{index}/{kind}/"
                    arrays[prefix + "count"] = np.array(moments.count)
                    for name in ("mean", "m2", "minimum", "maximum"):
                        arrays[prefix + name] = getattr(moments, name).numpy()
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> DatasetSummary:
        summary = cls()
        with np.load(io.BytesIO(data)) as archive:
            summary.is_tuple = bool(archive["is_tuple"])
            found: Dict[str, Dict[int, Dict[str, Moments]]] = {}
            for key in archive.files:
                if key == "is_tuple" or not key.endswith("/count"):
                    continue
                group, index, kind, _ = key.split("/")
                prefix = key[: -len("count")]
                moments = Moments(int(archive[key]), *(
                    torch.from_numpy(archive[prefix + name])
                    for name in ("mean", "m2", "minimum", "maximum")))
                found.setdefault(group, {}).setdefault(int(index), {})[kind] = moments
        for group, by_index in found.items():
            summaries = [FeatureSummary(by_index[i]["signed"], by_index[i]["absolute"])
                         for i in sorted(by_index)]
            if group == "overall":
                summary._overall = summaries
            else:
                summary._classes[_class_key(group.split("=", 1)[1])] = summaries
        return summary


def _class_key(text: str) -> Hashable:
    try:
        return int(text)
    except ValueError:
        return text


def _merge_lists(a: Optional[List[FeatureSummary]], b: Optional[List[FeatureSummary]]
                 ) -> Optional[List[FeatureSummary]]:
    if a is None:
        return b
    if b is None:
        return a
    if len(a) != len(b):
        raise ValueError(f"cannot merge summaries of {len(b)} inputs into summaries of "
                         f"{len(a)} inputs.")
    return [x.merge(y) for x, y in zip(a, b)]


def merged(summaries: Sequence[DatasetSummary]) -> DatasetSummary:
    """One summary of all ``summaries`` (of disjoint parts of the data)."""
    result = DatasetSummary()
    for summary in summaries:
        result = result.merge(summary)
    return result

