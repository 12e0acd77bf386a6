"""The compute session: attribution work off the kernel's message loop.

Requests from the front end (fetch, recompute, attribute one target) become jobs for one
worker thread. A newer fetch or recompute supersedes every older job; a newer target change of
the same (example, model) supersedes the older one; cancel stops the running job. Stopping
works through the engine's progress callback (``attribution_progress``), so even a long
perturbation run ends at its next chunk. Results stream back one example at a time; finished
attributions are cached, so going back to an earlier setting is instant.
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

Emit = Callable[[Dict[str, Any]], None]
RESULT_CACHE = 512
PROGRESS_INTERVAL = 0.1  # seconds between progress messages (iopub is rate-limited)


@dataclass
class Job:
    id: Any
    kind: str  # "fetch", "recompute" or "attribute"
    payload: Dict[str, Any]
    key: Tuple[Any, ...]
    stop_reason: Optional[str] = None
    stopped: threading.Event = field(default_factory=threading.Event)

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


class ComputeSession:
    """Runs a visualiser's jobs on a worker thread and reports through ``emit``.

    ``emit`` receives messages (dicts, possibly holding bytes) of types "fetch_started",
    "progress", "example", "result", "done". ``store`` holds the examples on screen (the
    widget's ``examples`` trait); the session reads and replaces it, keeping no copy.
    """

    def __init__(self, visualizer: Visualiser, emit: Emit,
                 store: Optional[ExampleStore] = None) -> None:
        self.visualizer = visualizer
        self.emit = emit
        self.store: ExampleStore = store if store is not None else ListStore()
        #: what each kind of request runs
        self.jobs: Dict[str, Callable[[Job], None]] = {
            "fetch": self._fetch, "recompute": self._recompute, "attribute": self._attribute_one}
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
        key = ("all",) if kind != "attribute" else (payload.get("example"), payload.get("model"))
        job = Job(request_id, kind, payload, key)
        with self._lock:
            for other in [*self._pending, *([self._current] if self._current else [])]:
                if kind != "attribute" or other.key == key:
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
        for k, example in enumerate(found.examples):
            if job.stopped.is_set():
                break
            wire = self._encode_example(example)
            for m in range(models):
                span = 1.0 / (count * models)
                result, second = self._pair(job, example, m, settings, compare,
                                            viz.default_target(example, m),
                                            (k * models + m) * span, span)
                wire["models"].append(result)
                wire["compare"].append(second)
            self.store.set([*self.store.get(), wire])
            self.emit({"type": "example", "id": job.id, "example": wire})
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
                old = wire["models"][m] if m < len(wire["models"]) else {}
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
        model_index = int(payload["model"])
        if not 0 <= model_index < len(self.visualizer.models):
            raise ValueError(f"`model` must be in [0, {len(self.visualizer.models)}); "
                             f"got {model_index}.")
        result, second = self._pair(job, example, model_index, settings, compare,
                                    payload.get("target"), 0.0, 1.0)
        self._send_result(job, example.id, model_index, result, second)
        self._done(job, "complete")

    def _send_result(self, job: Job, example_id: int, model_index: int,
                     result: Dict[str, Any], second: Optional[Dict[str, Any]]) -> None:
        updated = []
        for wire in self.store.get():
            if wire["id"] == example_id:
                models = list(wire["models"])
                compared = list(wire.get("compare") or [])
                while len(models) <= model_index:
                    models.append({})
                while len(compared) < len(models):
                    compared.append(None)
                models[model_index] = result
                compared[model_index] = second
                wire = {**wire, "models": models, "compare": compared}
            updated.append(wire)
        self.store.set(updated)
        self.emit({"type": "result", "id": job.id, "example": example_id, "model": model_index,
                   "result": result, "compare": second})

    # -- steps shared by the jobs ------------------------------------------------------------------
    def _pair(self, job: Job, example: PreparedExample, model_index: int, settings: Settings,
              compare: Optional[Settings], target: Any, start: float, span: float
              ) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
        """The result of the chosen method and, when comparing, of the second method for the
        same target."""
        share = span / 2 if compare else span
        result = self._cached_attribution(job, example, model_index, settings, target, start, share)
        if compare is None:
            return result, None
        other_target = result["target"] if result["target"] is not None else target
        second = self._cached_attribution(job, example, model_index, compare,
                                 other_target if compare.method.target else None,
                                 start + share, share)
        return result, second

    def _cached_attribution(self, job: Job, example: PreparedExample, model_index: int,
                   settings: Settings, target: Any, start: float, span: float) -> Dict[str, Any]:
        key = (example.id, model_index, settings.key(), target)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        label = f"{settings.method.name}: example {example.position}, model {model_index}"
        progress = ProgressReporter(self.emit, job, start, span, label)
        outcome = self.visualizer.attribute(example, model_index, settings, target, progress)
        # stored maps (widget/stored.py) are read from disk, not cached: a live recompute of
        # the same settings must not find them
        if outcome.wire["error"] is None and not outcome.wire.get("stored"):
            self._cache[key] = outcome.wire
            while len(self._cache) > RESULT_CACHE:
                self._cache.popitem(last=False)
        return outcome.wire

    def _encode_example(self, example: PreparedExample) -> Dict[str, Any]:
        viz = self.visualizer
        return {"id": example.id, "position": example.position, "label": example.label,
                "inputs": [f.encode_input(raw) for f, raw in zip(viz.features, example.raw)],
                "predictions": example.predictions, "models": [], "compare": []}

    @staticmethod
    def describe_settings(settings: Settings) -> Dict[str, Any]:
        return {"method": settings.method.name, "arguments": settings.arguments,
                "baselines": settings.baselines, "active": settings.active}
