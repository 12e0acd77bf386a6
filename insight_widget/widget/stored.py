"""Showing attributions computed elsewhere: a store written by
:func:`insight_widget.datasets.attribute_dataset`, or tensors (captum PR #446).

:class:`StoredMapsVisualizer` is an :class:`AttributionVisualizer` whose ``attribute`` first
looks up the example (by its position in the dataset stream, which is the store's id) for the
stored method and target; a stored map is shown with the usual colouring and the note "stored";
anything else — another method, another target, an example not in the store — is computed live
with the models given.

A visualiser made by :func:`from_store` also pages through the store (``fetch_page``: filters by
class, correctness and a per-example statistic, sorting, paging — ``store_view.StorePages`` over
``datasets.StoreBrowser``), answers two more requests (``requests``: "store_summary" for the
dataset panel, "store_live" to recompute one example live), and says when the stored map was
made with other arguments than the selected ones (``result["stored"]``).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Set, Tuple

import torch
from torch import Tensor

from ..attr.core import describe
from .attribution import EngineCall, Outcome, PreparedExample, Settings
from .dataset import FetchResult
from .interface import Selection
from .store_view import StorePages, argument_differences, stored_selection
from .visualizer import AttributionVisualizer

#: (position, target, the example's default target) -> the stored attributions of that
#: example for that target (one tensor per feature, without the batch dimension), or None
Lookup = Callable[[int, Optional[int], Optional[int]], Optional[Tuple[Tensor, ...]]]


class StoredMapsVisualizer(AttributionVisualizer):
    """An :class:`AttributionVisualizer` that shows stored maps of ``method_class`` (an engine
    class name, e.g. ``"IntegratedGradients"``) for model 0 where ``lookup`` has them."""

    def __init__(self, *args: Any, lookup: Lookup, method_class: str,
                 stored_arguments: Optional[Mapping[str, Any]] = None,
                 pages: Optional[StorePages] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lookup = lookup
        self._stored_method = method_class
        #: the attribute() arguments the maps were made with (None: unknown, never compared)
        self._stored_arguments = stored_arguments
        self.pages = pages
        #: positions the user asked to recompute live (their stored map is no longer shown)
        self._live: Set[int] = set()
        #: extra request types the widget routes here: kind -> fn(widget, message)
        self.requests: Dict[str, Callable[[Any, Dict[str, Any]], None]] = {
            "store_live": self._request_live}
        if pages is not None:
            self.requests["store_summary"] = self._request_summary
        # open on the stored method, with the arguments that reproduce the stored maps
        spec = next((m for m in self.methods if m.class_name == method_class), None)
        if spec is not None:
            self.selection = StoredSelection(
                spec.name, stored_selection(stored_arguments or {}, spec)
                if stored_arguments is not None else spec.defaults())

    # -- the store's pages ----------------------------------------------------------------------
    def spec(self) -> Dict[str, Any]:
        spec = super().spec()
        if self.pages is not None:
            spec["store"] = self.pages.spec()
        return spec

    def fetch_page(self, query: Mapping[str, Any],
                   should_stop: Callable[[], bool] = lambda: False) -> FetchResult:
        """The examples on the store page ``query`` asks for (``store_view.StoreQuery``),
        read from the dataset by position; ``extra["page"]`` says where the page is."""
        if self.pages is None:
            raise ValueError("this visualiser has no store to page through (use from_store).")
        ids, page = self.pages.select(query)
        result = FetchResult()
        result.examples = self._scanner.read_positions(ids, should_stop)
        result.scanned = len(result.examples)
        result.extra = {"page": page}
        # the pager shows where the page is; the status line only an empty selection
        result.message = "" if page["matching"] else \
            f"No stored example matches these filters (of {page['total']})."
        return result

    def _request_summary(self, widget: Any, message: Dict[str, Any]) -> None:
        reply = self.pages.summary_message(message.get("statistic") or "abs_mean")
        widget._emit({"type": "reply", "id": message.get("id"), "kind": "store_summary",
                      **reply})

    def _request_live(self, widget: Any, message: Dict[str, Any]) -> None:
        """Recompute one example live with the model: its stored map is no longer shown."""
        example = self.example(int(message["example"]))
        self._live.add(example.position)
        widget.session.submit("attribute", message.get("id"), message)

    def attribute(self, example: PreparedExample, model_index: int, settings: Settings,
                  target: Any = "default", progress: Optional[Callable[[float], Any]] = None
                  ) -> Outcome:
        default = self.default_target(example, model_index)
        resolved = default if target == "default" else target
        resolved = None if resolved is None else int(resolved)
        stored = None
        if (model_index == 0 and settings.method.class_name == self._stored_method
                and example.position not in self._live):
            stored = self._lookup(example.position, resolved, default)
        if stored is None:
            return super().attribute(example, model_index, settings, target, progress)
        spec = settings.method
        warning = "stored map (not recomputed)"
        differences = {} if self._stored_arguments is None else argument_differences(
            self._stored_arguments, spec, settings.arguments)
        if differences:
            warning = ("stored map made with " + ", ".join(
                f"{name}={was!r} (selected {now!r})" for name, (was, now) in
                differences.items()) + "; recompute to use the selected arguments")
        wire: Dict[str, Any] = {"model": model_index, "method": spec.name,
                                "target": resolved if spec.target else None,
                                "attribution": [None] * len(self.features), "layer": None,
                                "contributions": [None] * len(self.features), "delta": None,
                                "error": None, "warning": warning, "seconds": 0.0,
                                # read from disk, not cached by the session: a live
                                # recompute of the same settings must not find it
                                "stored": {"arguments": dict(self._stored_arguments or {}),
                                           "differs": sorted(differences)}}
        batch = tuple(t.unsqueeze(0) for t in stored)
        call = EngineCall(None, batch, {}, list(range(len(self.features))))
        # the stored result is encoded exactly as a live one (no delta: it is in the store)
        runner_spec = spec if not spec.delta else _without_delta(spec)
        return self._runner._encode(runner_spec, call, batch, wire)

    def attribute_targets(self, *args: Any, **kwargs: Any) -> None:
        """Stored maps are looked up one target at a time."""
        return None


class StoredSelection(Selection):
    """A selection whose arguments reach a new widget (JSON values: those of a store)."""

    def widget_settings(self) -> Dict[str, Any]:
        return {**super().widget_settings(), "arguments": dict(self.arguments)}


def _without_delta(spec: Any) -> Any:
    from dataclasses import replace

    return replace(spec, delta=False)


def from_store(path: str, models: Any, classes: Sequence[str], features: Any, dataset: Any,
               statistics: Optional[Mapping[str, Callable[[Tensor], float]]] = None,
               **kwargs: Any) -> StoredMapsVisualizer:
    """A visualiser showing the maps stored at ``path`` for the examples of ``dataset`` (the
    data the store was written from, same order); the store must have been written with
    ``models[0]`` (or ``models``) and ``classes`` (ValueError otherwise). ``statistics``:
    extra per-example statistics of the stored map (``{name: fn(map) -> float}``, e.g. the
    share of |attribution| outside a known object) to filter and sort by, as in
    ``StoreBrowser``."""
    from ..datasets import AttributionStore

    first = models[0] if isinstance(models, (list, tuple)) else models
    store = AttributionStore(path, model=first, classes=list(classes))
    table = store.examples(columns=["id", "target"])
    targets = dict(zip(table.column("id").to_pylist(), table.column("target").to_pylist()))
    method_class = store.method.split("(")[0]

    def lookup(position: int, target: Optional[int], _default: Optional[int]
               ) -> Optional[Tuple[Tensor, ...]]:
        if position not in targets or targets[position] != target:
            return None
        return tuple(m[0] for m in store.attributions([position]))

    stored_arguments = store.manifest.get("attribute_args")
    visualizer = StoredMapsVisualizer(models, classes, features, dataset, lookup=lookup,
                                      method_class=method_class,
                                      stored_arguments=stored_arguments
                                      if isinstance(stored_arguments, dict) else None,
                                      pages=StorePages(store, classes, statistics), **kwargs)
    visualizer.store = store
    return visualizer


def from_attributions(attributions: Mapping[int, Any], method: str, models: Any,
                      classes: Sequence[str], features: Any, dataset: Any,
                      targets: Optional[Mapping[int, int]] = None,
                      **kwargs: Any) -> StoredMapsVisualizer:
    """A visualiser showing ``attributions`` computed elsewhere: ``{position: tensor (or tuple,
    one per feature), without batch dim}`` for the examples of ``dataset`` by position, made
    with ``method`` (engine class name, e.g. ``"IntegratedGradients"``) for ``targets``
    (``{position: class}``; default: the model's top prediction)."""
    if not isinstance(method, str):
        raise TypeError(f"`method` must be an engine class name (str); got {describe(method)}.")
    maps: Dict[int, Tuple[Tensor, ...]] = {}
    for position, value in attributions.items():
        values = value if isinstance(value, tuple) else (value,)
        if not all(isinstance(v, Tensor) for v in values):
            raise TypeError(f"`attributions[{position}]` must be a tensor or a tuple of tensors; "
                            f"got {describe(value)}.")
        maps[int(position)] = tuple(torch.as_tensor(v).detach() for v in values)
    chosen = dict(targets or {})

    def lookup(position: int, target: Optional[int], default: Optional[int]
               ) -> Optional[Tuple[Tensor, ...]]:
        if position not in maps or chosen.get(position, default) != target:
            return None
        return maps[position]

    return StoredMapsVisualizer(models, classes, features, dataset, lookup=lookup,
                                method_class=method, **kwargs)
