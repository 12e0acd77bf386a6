"""Browsing a store: filter, sort and page through thousands of stored examples, and plot the
per-class summaries.

A :class:`StoreBrowser` keeps one row of scalars per example in memory (id, label, prediction,
score, target, delta and per-example statistics of the map, computed once by streaming the
shards) — a few dozen bytes per example — and reads maps only for the page shown.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ..attr.core import check_int, describe
from .store import AttributionStore

#: per-example statistics of a map (attribution tensor of one example -> a number)
MapStatistic = Callable[[Tensor], float]

DEFAULT_STATISTICS: Dict[str, MapStatistic] = {
    "total": lambda a: float(a.sum()),
    "abs_total": lambda a: float(a.abs().sum()),
    "max_abs": lambda a: float(a.abs().max()),
}

COLUMNS = ("id", "label", "prediction", "score", "target", "delta")


class StoreBrowser:
    """Filter, sort and page the examples of ``store``.

    Args:
        store: an :class:`AttributionStore`.
        statistics: extra per-example statistics ``{name: fn(map) -> float}`` of the (first)
            stored map, e.g. the share of |attribution| outside a known object mask; added to
            ``total``, ``abs_total`` and ``max_abs``.
        batch_size: rows read per step while computing the statistics (memory bound).
    """

    def __init__(self, store: AttributionStore,
                 statistics: Optional[Dict[str, MapStatistic]] = None,
                 batch_size: int = 256) -> None:
        if not isinstance(store, AttributionStore):
            raise TypeError(f"`store` must be an AttributionStore; got {describe(store)}.")
        statistics = {**DEFAULT_STATISTICS, **(statistics or {})}
        for name, fn in statistics.items():
            if not callable(fn):
                raise TypeError(f"statistic {name!r} must be callable; got {describe(fn)}.")
        self.store = store
        columns: Dict[str, List[Any]] = {name: [] for name in (*COLUMNS, *statistics)}
        map_column = store.attribution_columns[0]
        for batch in store.iter_batches(columns=[*COLUMNS, map_column],
                                        batch_size=check_int("batch_size", batch_size, 1)):
            for name in COLUMNS:
                columns[name].extend(batch.column(name).to_pylist())
            maps = torch.from_numpy(batch.column(map_column).to_numpy_ndarray()
                                    .astype(np.float32))
            for name, fn in statistics.items():
                columns[name].extend(fn(m) for m in maps)
        self.columns = {name: np.array([np.nan if v is None else v for v in values],
                                       dtype=np.float64)
                        for name, values in columns.items()}
        self._rows = np.argsort(self.columns["id"], kind="stable")

    # -- selection --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rows)

    def filter(self, label: Optional[int] = None, prediction: Optional[int] = None,
               correct: Optional[bool] = None,
               where: Optional[Callable[[Dict[str, np.ndarray]], np.ndarray]] = None
               ) -> StoreBrowser:
        """A browser over the examples with this label / prediction / correctness and for which
        ``where(columns)`` (a boolean array over all examples) holds."""
        keep = np.ones(len(self.columns["id"]), dtype=bool)
        if label is not None:
            keep &= self.columns["label"] == label
        if prediction is not None:
            keep &= self.columns["prediction"] == prediction
        if correct is not None:
            keep &= (self.columns["label"] == self.columns["prediction"]) == bool(correct)
        if where is not None:
            chosen = np.asarray(where(self.columns), dtype=bool)
            if chosen.shape != keep.shape:
                raise ValueError(f"`where` must return one bool per example ({keep.shape[0]}); "
                                 f"got shape {chosen.shape}.")
            keep &= chosen
        return self._with_rows(self._rows[keep[self._rows]])

    def sort(self, by: str, descending: bool = False) -> StoreBrowser:
        """A browser ordered by the column or statistic ``by`` (NaN last)."""
        if by not in self.columns:
            raise ValueError(f"`by` must be one of {sorted(self.columns)}; got {by!r}.")
        values = self.columns[by][self._rows]
        order = np.argsort(-values if descending else values, kind="stable")
        return self._with_rows(self._rows[order])

    def _with_rows(self, rows: np.ndarray) -> StoreBrowser:
        view = StoreBrowser.__new__(StoreBrowser)
        view.store, view.columns, view._rows = self.store, self.columns, rows
        return view

    # -- reading ----------------------------------------------------------------------------
    def ids(self) -> List[int]:
        return [int(i) for i in self.columns["id"][self._rows]]

    def page(self, number: int, size: int = 24) -> List[Dict[str, Any]]:
        """The examples of page ``number`` (0-based): their scalars and stored maps."""
        number, size = check_int("number", number, 0), check_int("size", size, 1)
        rows = self._rows[number * size:(number + 1) * size]
        if not len(rows):
            return []
        ids = [int(i) for i in self.columns["id"][rows]]
        maps = self.store.attributions(ids)
        return [{**{name: _scalar(values[row]) for name, values in self.columns.items()},
                 "attributions": tuple(m[k] for m in maps)}
                for k, row in enumerate(rows)]

    def pages(self, size: int = 24) -> int:
        return -(-len(self) // size)


def _scalar(value: float) -> Any:
    if np.isnan(value):
        return None
    return int(value) if float(value).is_integer() else float(value)


def plot_class_summaries(store: AttributionStore, statistic: str = "abs_mean",
                         classes: Optional[Sequence[str]] = None):
    """The dataset panel as a matplotlib figure: one image per class of ``statistic`` (a key of
    ``FeatureSummary.as_dict``) summed over the channel dimension of image-shaped maps, and the
    number of examples per class."""
    import matplotlib.pyplot as plt

    per_class = store.summary.per_class
    if not per_class:
        raise ValueError("the store has no per-class summaries (it was written with "
                         "summary_by=None or holds no examples).")
    names = list(classes or store.classes or [])
    figure, axes = plt.subplots(1, len(per_class), figsize=(2.4 * len(per_class), 2.6),
                                squeeze=False)
    for ax, (key, summary) in zip(axes[0], per_class.items()):
        first = summary[0] if isinstance(summary, tuple) else summary
        value = first.as_dict()[statistic]
        image = value.sum(0) if value.dim() == 3 else value.reshape(value.shape[0], -1) \
            if value.dim() >= 2 else value.reshape(1, -1)
        ax.imshow(image.numpy(), cmap="viridis")
        name = names[key] if isinstance(key, int) and key < len(names) else str(key)
        ax.set_title(f"{name} (n={first.count})", fontsize=9)
        ax.axis("off")
    figure.suptitle(f"{store.method}: {statistic} per class", fontsize=10)
    figure.tight_layout()
    return figure
