"""Browsing an attribution store in the visualiser: filter, sort and page through its examples,
the per-class summaries for the dataset panel, and how the stored map's arguments compare with
the selected ones.

The logic of filtering, sorting and paging lives in one place,
:class:`insight_widget.datasets.StoreBrowser`; this module turns a front-end query (the
``filters.store`` part of a fetch message) into browser calls and the page's store ids, and the
store's :class:`~insight_widget.datasets.summary.DatasetSummary` into wire tensors.

A query (every key optional)::

    {"label": class name | None, "prediction": class name | None,
     "correct": "all" | "correct" | "incorrect",
     "statistic": name | None, "minimum": float | None, "maximum": float | None,
     "sort": column | "id", "descending": bool, "page": int >= 0, "size": 1..MAX_EXAMPLES}

``statistic`` with ``minimum``/``maximum`` keeps the examples whose per-example statistic
(``StoreBrowser`` columns: ``total``, ``abs_total``, ``max_abs``, ``score``, ``delta`` and any
``statistics=`` given to ``from_store``) lies in ``[minimum, maximum]``.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from torch import Tensor

from ..attr.core import describe
from .dataset import MAX_EXAMPLES
from .registry import MethodSpec
from .wire import encode_tensor

CORRECTNESS = ("all", "correct", "incorrect")
#: columns of StoreBrowser that identify rather than measure: not offered as statistics
_KEYS = ("id", "label", "prediction", "target")


class StoreQuery:
    """A validated page request (see the module docstring); ``ValueError``/``TypeError``
    naming the key otherwise."""

    def __init__(self, query: Mapping[str, Any], classes: Sequence[str],
                 columns: Sequence[str]) -> None:
        if not isinstance(query, Mapping):
            raise TypeError(f"`filters.store` must be a dict; got {describe(query)}.")
        self.label = _class_index("label", query.get("label"), classes)
        self.prediction = _class_index("prediction", query.get("prediction"), classes)
        correct = query.get("correct") or "all"
        if correct not in CORRECTNESS:
            raise ValueError(f"`correct` must be one of {list(CORRECTNESS)}; got {correct!r}.")
        self.correct = None if correct == "all" else correct == "correct"
        self.statistic = query.get("statistic") or None
        if self.statistic is not None and self.statistic not in columns:
            raise ValueError(f"`statistic` must be one of {sorted(columns)}; "
                             f"got {self.statistic!r}.")
        self.minimum = _optional_float("minimum", query.get("minimum"))
        self.maximum = _optional_float("maximum", query.get("maximum"))
        self.sort = query.get("sort") or "id"
        if self.sort not in columns:
            raise ValueError(f"`sort` must be one of {sorted(columns)}; got {self.sort!r}.")
        self.descending = bool(query.get("descending", False))
        self.page = _int_in("page", query.get("page", 0), 0, None)
        self.size = _int_in("size", query.get("size", 12), 1, MAX_EXAMPLES)

    def where(self):
        """The statistic range as a ``StoreBrowser.filter(where=...)`` function, or None."""
        if self.statistic is None or (self.minimum is None and self.maximum is None):
            return None
        name, low, high = self.statistic, self.minimum, self.maximum

        def inside(columns: Dict[str, np.ndarray]) -> np.ndarray:
            values = columns[name]
            keep = ~np.isnan(values)
            if low is not None:
                keep &= values >= low
            if high is not None:
                keep &= values <= high
            return keep

        return inside


def _class_index(name: str, value: Any, classes: Sequence[str]) -> Optional[int]:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if value not in classes:
            raise ValueError(f"`{name}` must be a class name of {list(classes)}; got {value!r}.")
        return list(classes).index(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(classes):
        return value
    raise TypeError(f"`{name}` must be a class name; got {describe(value)}.")


def _optional_float(name: str, value: Any) -> Optional[float]:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a number; got {describe(value)}.") from None
    if math.isnan(number):
        raise ValueError(f"`{name}` must be a number; got NaN.")
    return number


def _int_in(name: str, value: Any, low: int, high: Optional[int]) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise TypeError(f"`{name}` must be an integer; got {describe(value)}.")
    number = int(value)
    if number < low or (high is not None and number > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"`{name}` must be {bound}; got {number}.")
    return number


class StorePages:
    """The pages of a store for the visualiser: wraps one :class:`StoreBrowser` (built on first
    use, on the session's worker thread: it streams the shards once to compute the per-example
    statistics) and answers queries with store ids, without reading any map."""

    def __init__(self, store: Any, classes: Sequence[str],
                 statistics: Optional[Mapping[str, Any]] = None) -> None:
        self.store = store
        self.classes = list(classes)
        self._statistics = dict(statistics or {})
        self._browser: Any = None

    @property
    def browser(self) -> Any:
        if self._browser is None:
            from ..datasets import StoreBrowser

            self._browser = StoreBrowser(self.store, statistics=self._statistics)
        return self._browser

    def statistic_names(self) -> List[str]:
        from ..datasets.browse import COLUMNS, DEFAULT_STATISTICS

        names = [*COLUMNS, *DEFAULT_STATISTICS, *self._statistics]
        return [n for n in dict.fromkeys(names) if n not in _KEYS]

    def select(self, query: Mapping[str, Any]) -> Tuple[List[int], Dict[str, Any]]:
        """The store ids on the page ``query`` asks for, and where that page is:
        ``{"number", "pages", "size", "matching", "total"}`` (``number`` is clamped to the
        last page, so shrinking the selection never shows an empty page)."""
        browser = self.browser
        parsed = StoreQuery(query, self.classes, list(browser.columns))
        chosen = browser.filter(label=parsed.label, prediction=parsed.prediction,
                                correct=parsed.correct, where=parsed.where())
        if parsed.sort != "id" or parsed.descending:
            chosen = chosen.sort(parsed.sort, descending=parsed.descending)
        pages = chosen.pages(parsed.size)
        number = min(parsed.page, max(0, pages - 1))
        ids = chosen.ids()[number * parsed.size:(number + 1) * parsed.size]
        return ids, {"number": number, "pages": pages, "size": parsed.size,
                     "matching": len(chosen), "total": len(browser)}

    def spec(self) -> Dict[str, Any]:
        """What the front end needs to build the store section (JSON)."""
        manifest = self.store.manifest
        return {"method": self.store.method, "examples": len(self.store),
                "arguments": manifest.get("attribute_args") or {},
                "target": manifest.get("target"), "statistics": self.statistic_names(),
                "summary": bool(self.store.summary.per_class or self.store.summary.overall)}

    # -- the dataset panel ------------------------------------------------------------------
    def summary_message(self, statistic: str = "abs_mean") -> Dict[str, Any]:
        """Per-class summary plots as wire tensors: for each class (and "all"), its count, a
        2-D map of ``statistic`` (image maps (C, H, W): summed over channels; 2-D maps as they
        are) and bars (C, H, W -> mean over H, W per channel; 1-D maps: one bar per feature)."""
        summary = self.store.summary
        entries: List[Tuple[str, Any]] = []
        if summary.overall is not None:
            entries.append(("all", summary.overall))
        for key, value in summary.per_class.items():
            name = self.classes[key] if isinstance(key, int) and 0 <= key < len(self.classes) \
                else str(key)
            entries.append((name, value))
        plots = []
        for name, value in entries:
            first = value[0] if isinstance(value, tuple) else value
            stats = first.as_dict()
            if statistic not in stats:
                raise ValueError(f"`statistic` must be one of {sorted(stats)}; "
                                 f"got {statistic!r}.")
            plots.append({"name": name, "count": int(first.count),
                          **summary_plots(stats[statistic])})
        return {"statistic": statistic, "method": self.store.method, "classes": plots}


def summary_plots(value: Tensor) -> Dict[str, Any]:
    """``{"map": wire (H, W) or None, "bars": wire (K,) or None, "bars_of": "channel" |
    "feature" | None}`` of one per-element statistic (see ``StorePages.summary_message``)."""
    value = value.detach().float()
    if value.dim() == 3:
        return {"map": encode_tensor(value.sum(0)), "bars": encode_tensor(value.mean((1, 2))),
                "bars_of": "channel"}
    if value.dim() == 2:
        return {"map": encode_tensor(value), "bars": None, "bars_of": None}
    return {"map": None, "bars": encode_tensor(value.reshape(-1)), "bars_of": "feature"}


# -- the stored map's arguments against the selected ones -------------------------------------
def _attribute_arguments(spec: MethodSpec) -> List[Any]:
    # internal_batch_size changes memory use, not the map
    return [a for a in spec.arguments
            if a.role == "attribute" and a.name != "internal_batch_size"]


def stored_values(stored: Mapping[str, Any], spec: MethodSpec) -> Dict[str, Any]:
    """The store's ``attribute()`` arguments in the UI's terms: ``{name: value}`` for each
    argument of ``spec`` the UI passes to ``attribute()`` (one the store's job did not pass
    had the engine's default)."""
    engine = spec.resolve()
    defaults = {}
    if engine is not None:
        defaults = {name: p.default for name, p in
                    inspect.signature(engine.attribute).parameters.items()
                    if p.default is not inspect.Parameter.empty}
    used = {**defaults, **stored}
    if "delta_tolerance" in {a.name for a in spec.arguments}:
        # the UI's anytime mode (attribution.build_call): a tolerance turns n_steps into the
        # budget of nodes; a store written with a fixed n_steps had no tolerance
        if used.get("n_steps") == "auto":
            used["n_steps"] = used.get("step_budget")
        else:
            used["delta_tolerance"] = None
    return {a.name: used.get(a.name, a.default) for a in _attribute_arguments(spec)}


def argument_differences(stored: Mapping[str, Any], spec: MethodSpec,
                         selected: Mapping[str, Any]) -> Dict[str, Tuple[Any, Any]]:
    """``{name: (stored, selected)}`` for every ``attribute()`` argument the UI selects whose
    value differs from the one the store was written with."""
    used = stored_values(stored, spec)
    return {name: (value, selected[name]) for name, value in used.items()
            if name in selected and value != selected[name]}


def stored_selection(stored: Mapping[str, Any], spec: MethodSpec) -> Dict[str, Any]:
    """The UI arguments that reproduce the stored maps (the method's defaults where a stored
    value is not one the UI offers, e.g. out of its range)."""
    chosen = spec.defaults()
    for name, value in stored_values(stored, spec).items():
        with contextlib.suppress(TypeError, ValueError):
            chosen[name] = spec.argument(name).parse(value)
    return chosen
