"""Progress reporting and cancellation shared by every long-running algorithm.

Algorithms call :func:`report_progress` at chunk boundaries (path steps, samples,
perturbation batches). Who listens is set by the caller, without changing any ``attribute``
signature:

* :func:`attribution_progress` installs a callback for the current thread/context; the widget
  uses it to stream a progress bar and to cancel: the callback receives the fraction done in
  [0, 1] and returns ``False`` (or raises :class:`AttributionCancelled`) to stop the
  computation, which then raises :class:`AttributionCancelled` from ``attribute``.
* ``show_progress=True`` on perturbation methods (Captum's argument) prints a text bar on
  stderr through :class:`TextProgress`.

The callback lives in a ``contextvars.ContextVar``, so a computation in a worker thread only
sees the callback installed in that thread.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time
from typing import Callable, Iterator, List, Optional, TextIO

ProgressCallback = Callable[[float], Optional[bool]]

_callbacks: contextvars.ContextVar[tuple] = contextvars.ContextVar(
    "insight_widget_progress", default=())


class AttributionCancelled(RuntimeError):
    """Raised inside ``attribute`` when a progress callback asked to stop."""


@contextlib.contextmanager
def attribution_progress(callback: ProgressCallback) -> Iterator[None]:
    """Send progress of attributions computed inside this block to ``callback``."""
    token = _callbacks.set((*_callbacks.get(), callback))
    try:
        yield
    finally:
        _callbacks.reset(token)


@contextlib.contextmanager
def progress_span(start: float, stop: float) -> Iterator[None]:
    """Map fractions reported inside the block into ``[start, stop]`` of the listeners.

    For algorithms that run another algorithm repeatedly (NoiseTunnel calling the wrapped
    method once per batch of samples): the inner method's own progress then advances the
    outer bar monotonically instead of restarting it.
    """
    outer = _callbacks.get()
    if not outer:
        yield
        return

    def scaled(callback: ProgressCallback) -> ProgressCallback:
        return lambda f: callback(start + (stop - start) * f)

    token = _callbacks.set(tuple(scaled(c) for c in outer))
    try:
        yield
    finally:
        _callbacks.reset(token)


def report_progress(done: float, total: float) -> None:
    """Tell listeners that ``done`` of ``total`` units are finished; may raise
    :class:`AttributionCancelled`."""
    callbacks = _callbacks.get()
    if not callbacks:
        return
    fraction = 1.0 if total <= 0 else min(1.0, max(0.0, done / total))
    for callback in callbacks:
        if callback(fraction) is False:
            raise AttributionCancelled("attribution cancelled by its progress callback")


class TextProgress:
    """A minimal text progress bar on stderr (Captum's ``show_progress=True``)."""

    def __init__(self, title: str, stream: Optional[TextIO] = None, width: int = 30) -> None:
        self.title = title
        self.stream = stream or sys.stderr
        self.width = width
        self._last = -1.0
        self._started = time.perf_counter()
        self.history: List[float] = []

    def __call__(self, fraction: float) -> None:
        self.history.append(fraction)
        if fraction - self._last < 0.01 and fraction < 1.0:
            return
        self._last = fraction
        filled = round(self.width * fraction)
        elapsed = time.perf_counter() - self._started
        bar = "#" * filled + "-" * (self.width - filled)
        end = "\n" if fraction >= 1.0 else ""
        self.stream.write(f"\r{self.title}: [{bar}] {100 * fraction:5.1f}% {elapsed:6.1f}s{end}")
        self.stream.flush()


@contextlib.contextmanager
def text_progress(show: bool, title: str) -> Iterator[None]:
    """Install a :class:`TextProgress` for the block when ``show`` is true."""
    if not show:
        yield
        return
    with attribution_progress(TextProgress(title)):
        yield
