"""Showing attributions computed elsewhere: a store written by
:func:`insight_widget.datasets.attribute_dataset`, or tensors (captum PR #446).

:class:`StoredMapsVisualizer` is an :class:`AttributionVisualizer` whose ``attribute`` first
looks up the example (by its position in the dataset stream, which is the store's id) for the
stored method and target; a stored map is shown with the usual colouring and the note "stored";
anything else — another method, another target, an example not in the store — is computed live
with the models given.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..attr.core import describe
from .attribution import EngineCall, Outcome, PreparedExample, Settings
from .visualizer import AttributionVisualizer

#: (position, target, the example's default target) -> the stored attributions of that
#: example for that target (one tensor per feature, without the batch dimension), or None
Lookup = Callable[[int, Optional[int], Optional[int]], Optional[Tuple[Tensor, ...]]]


class StoredMapsVisualizer(AttributionVisualizer):
    """An :class:`AttributionVisualizer` that shows stored maps of ``method_class`` (an engine
    class name, e.g. ``"IntegratedGradients"``) for model 0 where ``lookup`` has them."""

    def __init__(self, *args: Any, lookup: Lookup, method_class: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lookup = lookup
        self._stored_method = method_class

    def attribute(self, example: PreparedExample, model_index: int, settings: Settings,
                  target: Any = "default", progress: Optional[Callable[[float], Any]] = None
                  ) -> Outcome:
        default = self.default_target(example, model_index)
        resolved = default if target == "default" else target
        resolved = None if resolved is None else int(resolved)
        stored = None
        if model_index == 0 and settings.method.class_name == self._stored_method:
            stored = self._lookup(example.position, resolved, default)
        if stored is None:
            return super().attribute(example, model_index, settings, target, progress)
        spec = settings.method
        wire: Dict[str, Any] = {"model": model_index, "method": spec.name,
                                "target": resolved if spec.target else None,
                                "attribution": [None] * len(self.features), "layer": None,
                                "contributions": [None] * len(self.features), "delta": None,
                                "error": None, "warning": "stored map (not recomputed)",
                                "seconds": 0.0}
        batch = tuple(t.unsqueeze(0) for t in stored)
        call = EngineCall(None, batch, {}, list(range(len(self.features))))
        # the stored result is encoded exactly as a live one (no delta: it is in the store)
        runner_spec = spec if not spec.delta else _without_delta(spec)
        return self._runner._encode(runner_spec, call, batch, wire)

    def attribute_targets(self, *args: Any, **kwargs: Any) -> None:
        """Stored maps are looked up one target at a time."""
        return None


def _without_delta(spec: Any) -> Any:
    from dataclasses import replace

    return replace(spec, delta=False)


def from_store(path: str, models: Any, classes: Sequence[str], features: Any, dataset: Any,
               **kwargs: Any) -> StoredMapsVisualizer:
    """A visualiser showing the maps stored at ``path`` for the examples of ``dataset`` (the
    data the store was written from, same order); the store must have been written with
    ``models[0]`` (or ``models``) and ``classes`` (ValueError otherwise)."""
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

    visualizer = StoredMapsVisualizer(models, classes, features, dataset, lookup=lookup,
                                      method_class=method_class, **kwargs)
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
