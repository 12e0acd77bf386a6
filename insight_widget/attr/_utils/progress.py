"""Progress reporting and cancellation shared by every long-running algorithm.

Algorithms call :func:`report_progress` at chunk boundaries (path steps, samples,
perturbation batches). Who listens is set by the caller, without changing any ``attribute``
signature:

* :func:`attribution_progress` installs a callback for the current thread/context; the widget
  uses it to stream a progress bar and to cancel: the callback receives the fraction done in
  [0, 1] and returns ``False`` (or raises :class:`AttributionCancelled`) to stop the
  computation, which then raises :class:`AttributionCancelled` from ``attribute``.
* :func:`report_partial` offers the attributions computed so far (after a perturbation chunk)
  to listeners that take them: a callback with a ``partial_result(make)`` method receives a
  zero-argument ``make`` that builds them, so nothing is built unless a listener asks.
* ``show_progress=True`` on perturbation methods (Captum's argument) shows a tqdm bar
  (:class:`ProgressBar`, through :func:`progress_bar`), which counts the method's units.

The callback lives in a ``contextvars.ContextVar``, so a computation in a worker thread only
sees the callback installed in that thread.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, Iterator, Optional

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
        if isinstance(callback, ProgressBar):
            callback.counts(min(done, total), total)
        elif callback(fraction) is False:
            raise AttributionCancelled("attribution cancelled by its progress callback")


def report_partial(make: Callable[[], Any]) -> None:
    """Offer listeners the attributions so far: ``make()`` builds them in the form the
    algorithm's inner step holds them (a tuple of tensors shaped like the inputs, elements
    not yet evaluated at zero). Listeners wrapped by :func:`progress_span` are not offered
    them: an inner algorithm's partial result is not the outer one's."""
    for callback in _callbacks.get():
        take = getattr(callback, "partial_result", None)
        if take is not None:
            take(make)


class ProgressBar:
    """A tqdm progress bar (``tqdm.auto``: a widget in notebooks, text on stderr elsewhere)
    fed by :func:`report_progress`; Captum's ``show_progress=True``.

    The bar counts the algorithm's own units (perturbations, samples) once the first report
    says how many there are, and its description is Captum's ("Feature Ablation attribution"),
    so the finished bar reads e.g. ``Feature Ablation attribution: 100%|...| 3/3``.
    """

    def __init__(self, title: str) -> None:
        from tqdm.auto import tqdm

        # Created eagerly so it writes to the stream in place when the computation starts
        # (``sys.stderr`` is looked up now: tests and notebooks may redirect it).
        self._bar = tqdm(desc=title, total=None, leave=True)

    def counts(self, done: float, total: float) -> None:
        """``done`` of ``total`` units are finished."""
        # Whole counts print as "3/3", not "3.0/3".
        done, total = (int(v) if float(v).is_integer() else v for v in (done, total))
        if self._bar.total != total:
            self._bar.total = total
        step = done - self._bar.n
        if step > 0:
            self._bar.update(step)
        elif step < 0:  # a restarted count: show it rather than go backwards silently
            self._bar.n = done
            self._bar.refresh()

    def __call__(self, fraction: float) -> None:
        """Fraction-only reports (through :func:`progress_span`): counted in percent."""
        self.counts(round(100 * fraction, 6), 100)

    def close(self) -> None:
        self._bar.close()


@contextlib.contextmanager
def progress_bar(show: bool, title: str) -> Iterator[None]:
    """Show a :class:`ProgressBar` titled ``title`` for the block when ``show`` is true."""
    if not show:
        yield
        return
    bar = ProgressBar(title)
    try:
        with attribution_progress(bar):
            yield
    finally:
        bar.close()
