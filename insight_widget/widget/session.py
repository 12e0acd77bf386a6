"""The compute session: attribution work off the kernel's message loop.

Requests from the front end (fetch, recompute, attribute one target) become jobs for one
worker thread. A newer fetch or recompute supersedes every older job; a newer target change of
the same (example, model) supersedes the older one; cancel stops the running job. Stopping
works through the engine's progress callback (``attribution_progress``), so even a long
perturbation run ends at its next chunk. A fetch sends every example with its predictions
first (one batched forward pass per model), then the attributions one (example, model) at a
time; anytime Integrated Gradients streams each refinement round's map, perturbation methods
their map as chunks finish (throttled to one message per ``PARTIAL_INTERVAL``). Finished
attributions are cached, so going back to an earlier setting is instant, and a target change
among the top predictions computes all of them in one engine call.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..attr.core import AttributionCancelled
from .attribution import PreparedExample, Settings
from .interface import ExampleStore, ListStore, Visualiser
from .wire import decode_tensor

Emit = Callable[[Dict[str, Any]], None]
RESULT_CACHE = 512
PROGRESS_INTERVAL = 0.1  # seconds between progress messages (iopub is rate-limited)
PARTIAL_INTERVAL = 0.25  # seconds between intermediate maps of one attribution
_KEEP = object()  # _send_result: keep the compared method's result as it is


@dataclass
class Job:
    id: Any
    kind: str  # a key of ``ComputeSession.jobs``
    payload: Dict[str, Any]
    key: Tuple[Any, ...]
    stop_reason: Optional[str] = None
    stopped: threading.Event = field(default_factory=threading.Event)
    #: the error of the speed options has been measured for this request (once is enough)
    speed_measured: bool = False

    def stop(self, reason: str) -> None:
        if not self.stopped.is_set():
            self.stop_reason = reason
            self.stopped.set()


class ProgressReporter:
    """The engine's progress callback for one part of a job: maps the part's fraction into the
    job's [start, start + span], throttles messages, and answers False once the job is stopped
    (which cancels the attribution)."""

    def __init__(self, emit: Emit, job: Job, start: float, span: float, label: str) -> None:
        self.emit, self.job, self.start, self.span, self.label = emit, job, start, span, label
        self._last = 0.0
        #: receives intermediate maps (``AttributionRunner.run`` looks for it), or None
        self.partial: Optional[Callable[[Dict[str, Any]], None]] = None

    def __call__(self, fraction: float) -> bool:
        if self.job.stopped.is_set():
            return False
        now = time.monotonic()
        if now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            self.emit({"type": "progress", "id": self.job.id,
                       "fraction": round(self.start + self.span * min(1.0, fraction), 4),
                       "label": self.label})
        return True


class PartialMaps:
    """Streams the intermediate maps of one (example, model) attribution as ``result``
    messages marked ``partial``, throttled, and remembers the latest for a cancel."""

    def __init__(self, session: ComputeSession, job: Job, example_id: int,
                 model_index: int) -> None:
        self.session, self.job = session, job
        self.example_id, self.model_index = example_id, model_index
        self.latest: Optional[Dict[str, Any]] = None
        self._sent = float("-inf")

    def ready(self) -> bool:
        """Whether a map sent now would respect the throttle (callers may skip building it)."""
        return time.monotonic() - self._sent >= PARTIAL_INTERVAL

    def __call__(self, wire: Dict[str, Any]) -> None:
        self.latest = wire
        if self.ready():
            self._sent = time.monotonic()
            self.session._send_result(self.job, self.example_id, self.model_index, wire)

    def stopped(self) -> None:
        """Cancelled mid-refinement: the latest map stays, marked not converged."""
        if self.latest is not None:
            self.session._send_result(self.job, self.example_id, self.model_index,
                                      {**self.latest, "partial": False, "stopped": True,
                                       **({"converged": False} if "steps" in self.latest
                                          else {})})


class ComputeSession:
    """Runs a visualiser's jobs on a worker thread and reports through ``emit``.

    ``emit`` receives messages (dicts, possibly holding bytes) of types "fetch_started",
    "progress", "example", "result", "quality", "done". ``store`` holds the examples on screen (the
    widget's ``examples`` trait); the session reads and replaces it, keeping no copy.
    """

    def __init__(self, visualizer: Visualiser, emit: Emit,
                 store: Optional[ExampleStore] = None) -> None:
        self.visualizer = visualizer
        self.emit = emit
        self.store: ExampleStore = store if store is not None else ListStore()
        #: what each kind of request runs
        self.jobs: Dict[str, Callable[[Job], None]] = {
            "fetch": self._fetch, "recompute": self._recompute, "attribute": self._attribute_one,
            "quality": self._quality}
        self._queue: queue.Queue[Optional[Job]] = queue.Queue()
        self._lock = threading.Lock()
        self._pending: List[Job] = []
        self._current: Optional[Job] = None
        self._thread: Optional[threading.Thread] = None
        self._idle = threading.Event()
        self._idle.set()
        self._cache: OrderedDict[Tuple[Any, ...], Dict[str, Any]] = OrderedDict()

    # -- requests (called on the kernel thread) ----------------------------------------------------
    def submit(self, kind: str, request_id: Any, payload: Dict[str, Any]) -> Job:
        if kind not in self.jobs:
            raise ValueError(f"unknown request type {kind!r}.")
        key = (("all",) if kind not in ("attribute", "quality") else
               (kind, payload.get("example"), payload.get("model")))
        job = Job(request_id, kind, payload, key)
        with self._lock:
            for other in [*self._pending, *([self._current] if self._current else [])]:
                # fetch/recompute stop everything; a target change or a quality request stops
                # only the older one of its kind for the same (example, model)
                if key == ("all",) or other.key == key:
                    other.stop("superseded")
            self._pending.append(job)
            self._idle.clear()
        self._ensure_worker()
        self._queue.put(job)
        return job

    def cancel(self, request_id: Any = None) -> None:
        """Stop the running job and drop queued ones (only ``request_id`` when given)."""
        with self._lock:
            for job in [*self._pending, *([self._current] if self._current else [])]:
                if request_id is None or job.id == request_id:
                    job.stop("cancelled")

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until every submitted job has finished (for tests and ``visualize``)."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Cancel everything and let the worker thread end."""
        self.cancel()
        if self._thread is not None:
            self._queue.put(None)
            self._thread = None

    # -- worker ------------------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="insight_widget-compute",
                                            daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                self._pending.remove(job)
                self._current = job
            try:
                if job.stopped.is_set():
                    self._done(job, job.stop_reason or "cancelled")
                else:
                    self.jobs[job.kind](job)
            except AttributionCancelled:
                self._done(job, job.stop_reason or "cancelled")
            except Exception as error:  # the request fails, the widget keeps working
                self._done(job, "error", message=f"{type(error).__name__}: {error}",
                           detail=traceback.format_exc(limit=4))
            finally:
                with self._lock:
                    self._current = None
                    if not self._pending:
                        self._idle.set()

    def _done(self, job: Job, state: str, message: str = "", **extra: Any) -> None:
        self.emit({"type": "done", "id": job.id, "kind": job.kind, "state": state,
                   "message": message or (
                       "Cancelled." if state == "cancelled" else
                       "Superseded by a newer request." if state == "superseded" else ""),
                   **extra})

    # -- jobs (``jobs`` maps each request type to one) ---------------------------------------------
    def _fetch(self, job: Job) -> None:
        payload = job.payload
        settings, compare = self.visualizer.request_settings(payload.get("settings") or {})
        filters = payload.get("filters") or {}
        self.emit({"type": "fetch_started", "id": job.id,
                   "settings": self.describe_settings(settings)})
        self.store.set([])
        viz = self.visualizer
        max_batches = int(filters.get("max_batches", 64))
        scanning = ProgressReporter(self.emit, job, 0.0, 0.0, "")

        def on_batch(batches: int, scanned: int) -> None:
            # the scan has no known length: report it in the label, at fraction 0
            scanning.label = f"reading batch {batches} of at most {max_batches} ({scanned} " \
                             "examples checked)"
            scanning(0.0)

        if filters.get("store") is not None and hasattr(viz, "fetch_page"):
            # a page of an attribution store (widget/stored.py): read by position, no scan
            found = viz.fetch_page(filters["store"], should_stop=job.stopped.is_set)
        else:
            found = viz.fetch(int(filters.get("num_examples", 4)),
                              filters.get("prediction", "all"), filters.get("classes") or [],
                              max_batches, bool(filters.get("restart")),
                              should_stop=job.stopped.is_set, on_batch=on_batch)
        count = len(found.examples)
        models = len(viz.models)
        # predictions first: every card appears before any attribution starts
        wires = [self._encode_example(example) for example in found.examples]
        self.store.set(wires)
        for wire in wires:
            self.emit({"type": "example", "id": job.id, "example": wire})
        span = 1.0 / max(1, count * models)
        for k, example in enumerate(found.examples):
            for m in range(models):
                if job.stopped.is_set():
                    break
                result, second = self._pair(job, example, m, settings, compare,
                                            viz.default_target(example, m),
                                            (k * models + m) * span, span)
                self._send_result(job, example.id, m, result, second)
        state = job.stop_reason if job.stopped.is_set() else "complete"
        self._done(job, state, message=found.message if state == "complete" else "",
                   scanned=found.scanned, found=count, dataset_end=found.dataset_end,
                   **found.extra)

    def _recompute(self, job: Job) -> None:
        settings, compare = self.visualizer.request_settings(job.payload.get("settings") or {})
        models = len(self.visualizer.models)
        shown = list(self.store.get())
        total = max(1, len(shown) * models)
        for k, wire in enumerate(shown):
            example = self.visualizer.example(wire["id"])
            for m in range(models):
                if job.stopped.is_set():
                    raise AttributionCancelled(job.stop_reason or "cancelled")
                old = (wire["models"][m] if m < len(wire["models"]) else None) or {}
                # keep the class the user chose for this example, if the method takes one
                target = old.get("target")
                if target is None:
                    target = "default"
                result, second = self._pair(job, example, m, settings, compare, target,
                                            (k * models + m) / total, 1 / total)
                self._send_result(job, wire["id"], m, result, second)
        self._done(job, "complete")

    def _attribute_one(self, job: Job) -> None:
        payload = job.payload
        settings, compare = self.visualizer.request_settings(payload.get("settings") or {})
        example = self.visualizer.example(int(payload["example"]))
        model_index = self._model_index(payload)
        result, second = self._pair(job, example, model_index, settings, compare,
                                    payload.get("target"), 0.0, 1.0,
                                    shared=self._top_classes(example, model_index))
        self._send_result(job, example.id, model_index, result, second)
        self._done(job, "complete")

    def _quality(self, job: Job) -> None:
        """The quality panel of one example's map: a "quality" message per metric as it
        finishes (``widget/quality.py``), then done. ``compare`` measures the compared method."""
        payload = job.payload
        settings, compare = self.visualizer.request_settings(payload.get("settings") or {})
        if payload.get("compare"):
            if compare is None:
                raise ValueError("`compare` is set but the settings compare no second method.")
            settings = compare
        example = self.visualizer.example(int(payload["example"]))
        model_index = self._model_index(payload)
        head = {"type": "quality", "id": job.id, "example": example.id, "model": model_index,
                "method": settings.method.name, "compare": bool(payload.get("compare"))}

        def progress_for(start: float, span: float, label: str) -> ProgressReporter:
            return ProgressReporter(self.emit, job, start, span, label)

        self.visualizer.quality(example, model_index, settings, payload.get("target", "default"),
                                progress_for, lambda part: self.emit({**head, **part}),
                                job.stopped.is_set)
        if job.stopped.is_set():
            raise AttributionCancelled(job.stop_reason or "cancelled")
        self._done(job, "complete")

    def _model_index(self, payload: Dict[str, Any]) -> int:
        model_index = int(payload["model"])
        if not 0 <= model_index < len(self.visualizer.models):
            raise ValueError(f"`model` must be in [0, {len(self.visualizer.models)}); "
                             f"got {model_index}.")
        return model_index

    def _send_result(self, job: Job, example_id: int, model_index: int,
                     result: Dict[str, Any], second: Any = _KEEP) -> None:
        """Store and send one (example, model) result; ``second`` (the compared method's
        result) is kept as stored when not given."""
        updated = []
        for wire in self.store.get():
            if wire["id"] == example_id:
                models = list(wire["models"])
                compared = list(wire.get("compare") or [])
                while len(models) <= model_index:
                    models.append(None)
                while len(compared) < len(models):
                    compared.append(None)
                models[model_index] = result
                if second is not _KEEP:
                    compared[model_index] = second
                second = compared[model_index]
                wire = {**wire, "models": models, "compare": compared}
            updated.append(wire)
        self.store.set(updated)
        self.emit({"type": "result", "id": job.id, "example": example_id, "model": model_index,
                   "result": result, "compare": None if second is _KEEP else second})

    # -- steps shared by the jobs ------------------------------------------------------------------
    def _pair(self, job: Job, example: PreparedExample, model_index: int, settings: Settings,
              compare: Optional[Settings], target: Any, start: float, span: float,
              shared: Tuple[int, ...] = ()) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
        """The result of the chosen method and, when comparing, of the second method for the
        same target. The chosen method's intermediate maps stream (anytime IG); ``shared``:
        classes whose maps may be computed together with ``target``'s."""
        share = span / 2 if compare else span
        result = self._cached_attribution(job, example, model_index, settings, target, start,
                                          share, stream=True, shared=shared)
        if compare is None:
            return result, None
        other_target = result["target"] if result["target"] is not None else target
        second = self._cached_attribution(job, example, model_index, compare,
                                          other_target if compare.method.target else None,
                                          start + share, share, shared=shared)
        return result, second

    def _cached_attribution(self, job: Job, example: PreparedExample, model_index: int,
                            settings: Settings, target: Any, start: float, span: float,
                            stream: bool = False, shared: Tuple[int, ...] = ()
                            ) -> Dict[str, Any]:
        """One result, from the cache (marked ``"cached": True``) or computed. When
        ``target`` is one of ``shared`` (the top predictions), all of them are computed in one
        engine call and cached, so switching among them later needs no computation."""
        if target == "default":
            target = self.visualizer.default_target(example, model_index)
        key = (example.id, model_index, settings.key(), target)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return {**cached, "cached": True}
        label = f"{settings.method.name}: example {example.position}, model {model_index}"
        progress = ProgressReporter(self.emit, job, start, span, label)
        if target in shared and len(shared) > 1:
            outcomes = self.visualizer.attribute_targets(example, model_index, settings,
                                                         shared, progress)
            if outcomes is not None:
                for other, outcome in outcomes.items():
                    outcome.wire["shared_targets"] = len(outcomes)
                    self._remember((*key[:3], other), outcome.wire)
                return outcomes[int(target)].wire
        partial = PartialMaps(self, job, example.id, model_index) if stream else None
        progress.partial = partial
        try:
            outcome = self.visualizer.attribute(example, model_index, settings, target, progress)
        except AttributionCancelled:
            if partial is not None and job.stop_reason == "cancelled":
                partial.stopped()
            raise
        if settings.speed and not job.speed_measured and outcome.wire["error"] is None:
            job.speed_measured = True
            reference = self._cached_attribution(job, example, model_index,
                                                 settings.full_precision(), target,
                                                 start + span, 0.0)
            outcome.wire["speed_error"] = speed_error(outcome.wire, reference)
        self._remember(key, outcome.wire)
        return outcome.wire

    def _remember(self, key: Tuple[Any, ...], wire: Dict[str, Any]) -> None:
        # stored maps (widget/stored.py) are read from disk, not cached: a live recompute of
        # the same settings must not find them
        if wire["error"] is None and not wire.get("stored"):
            self._cache[key] = wire
            while len(self._cache) > RESULT_CACHE:
                self._cache.popitem(last=False)

    def _top_classes(self, example: PreparedExample, model_index: int) -> Tuple[int, ...]:
        """The classes of a model's top predictions (its target chips)."""
        rows = example.predictions[model_index] if model_index < len(example.predictions) else []
        return tuple(p["index"] for p in rows if not p.get("scalar"))

    def _encode_example(self, example: PreparedExample) -> Dict[str, Any]:
        viz = self.visualizer
        return {"id": example.id, "position": example.position, "label": example.label,
                "inputs": [f.encode_input(raw) for f, raw in zip(viz.features, example.raw)],
                "predictions": example.predictions, "models": [], "compare": []}

    @staticmethod
    def describe_settings(settings: Settings) -> Dict[str, Any]:
        return {"method": settings.method.name, "arguments": settings.arguments,
                "baselines": settings.baselines, "active": settings.active}


def speed_error(fast: Dict[str, Any], reference: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The error the speed options cause, measured on one (example, model): relative L2
    distance ||a_fast - a|| / ||a|| over every map of the two results (input features and
    layer), and both run times. The maps are compared as sent (float16 scaled to [-1, 1]:
    a floor near 1e-3 relative, well below bfloat16's ~2**-8 per operation)."""
    if reference.get("error") is not None:
        return None
    pairs = list(zip(fast["attribution"], reference["attribution"]))
    if fast.get("layer") and reference.get("layer"):
        pairs.append((fast["layer"]["values"], reference["layer"]["values"]))
    difference = total = 0.0
    for a, b in pairs:
        if a is None or b is None:
            continue
        x, y = decode_tensor(a).double(), decode_tensor(b).double()
        difference += float((x - y).pow(2).sum())
        total += float(y.pow(2).sum())
    return {"relative": (difference / total) ** 0.5 if total > 0 else None,
            "seconds": fast.get("seconds"), "reference_seconds": reference.get("seconds")}
