"""The anywidget: synced state in traitlets, transient traffic over custom messages.

Traits (survive re-render, extra views, saved widget state, HTML export):
    spec      classes, models, features, the applicable methods with their argument schemas
    examples  the examples on screen, tensors as bytes (see ``wire.py``)
    settings  the last settings used, so a new view opens with the same choices
    status    the last finished request (state, message, dataset end)
    in_side_panel  shown in a side panel (``display.show``): inline views stand aside

Custom messages from the front end: ``{"type": "fetch"|"recompute"|"attribute"|"quality"|
"cancel"|"export", "id": ...}``. Replies carry the request id: "fetch_started", "progress",
"example", "result", "quality", "done", "export" (bytes moved into binary buffers, with
``buffer_paths``).

Streamed examples are sent once, as messages; the ``examples`` trait (the Python side's only
copy: the compute session stores into it through :class:`QuietExamples`) is updated *without*
re-sending it (the front end applies the same update to its copy of the model), so every
example crosses the wire exactly once.
"""

from __future__ import annotations

import pathlib
import threading
import uuid
from typing import Any, Dict, List, Optional

import anywidget
import traitlets

from .interface import Visualiser
from .session import ComputeSession
from .static import STATIC
from .wire import split_buffers

MISSING_BUNDLE_ESM = """
export default {
  render({ el }) {
    const box = document.createElement("div");
    box.setAttribute("data-testid", "iw-error");
    box.style.cssText = "padding:8px;border:1px solid #c33;color:#c33;font-family:sans-serif";
    box.textContent = "insight_widget: the front end is not built (insight_widget/static/" +
      "widget.js is missing). Run `npm ci && npm run build` in the source tree, or reinstall " +
      "the package with `pip install -e .`.";
    el.appendChild(box);
  },
};
"""


def _bundle(name: str, fallback: str) -> Any:
    path = STATIC / name
    return path if path.exists() else fallback


class QuietExamples:
    """The widget's ``examples`` trait as the session's :class:`ExampleStore`: the one copy of
    the examples on the Python side. Setting it does not re-send it, because the front end
    applies the same change from the message ("example", "result") that carries it."""

    def __init__(self, widget: VisualizerWidget) -> None:
        self.widget = widget

    def get(self) -> List[Dict[str, Any]]:
        return self.widget.examples

    def set(self, examples: List[Dict[str, Any]]) -> None:
        quiet = self.widget._quiet
        quiet.active = True
        try:
            self.widget.examples = examples
        finally:
            quiet.active = False


class VisualizerWidget(anywidget.AnyWidget):
    """The visualiser's widget; create it with ``AttributionVisualizer.render()``."""

    _esm = _bundle("widget.js", MISSING_BUNDLE_ESM)
    _css = _bundle("widget.css", "")

    spec = traitlets.Dict().tag(sync=True)
    examples = traitlets.List().tag(sync=True)
    settings = traitlets.Dict().tag(sync=True)
    status = traitlets.Dict().tag(sync=True)
    #: shown in a side panel: inline views of it stand aside while the panel's view exists
    in_side_panel = traitlets.Bool(False).tag(sync=True)

    def __init__(self, visualizer: Visualiser, **kwargs: Any) -> None:
        super().__init__(spec=visualizer.spec(),
                         settings=visualizer.selection.widget_settings(), **kwargs)
        self.visualizer = visualizer
        self.side_panel = None
        #: when set (``serve()``), replies go here instead of the Jupyter comm
        self.transport: Optional[Any] = None
        self._quiet = threading.local()
        self.session = self.make_session(visualizer)
        self.on_msg(self._on_message)

    #: the traits a saved page (``export.py``) carries
    state_keys = ("spec", "examples", "settings", "status")

    def make_session(self, visualizer: Visualiser) -> ComputeSession:
        """The compute session behind this widget (its ``jobs`` are the request types)."""
        return ComputeSession(visualizer, self._emit, store=QuietExamples(self))

    # -- front end -> Python ----------------------------------------------------------------------
    def _on_message(self, _widget: Any, content: Dict[str, Any], buffers: List[Any]) -> None:
        if not isinstance(content, dict):
            return
        kind, request_id = content.get("type"), content.get("id")
        try:
            if kind == "cancel":
                self.session.cancel(content.get("request"))
            elif kind in self.session.jobs:
                if "settings" in content:
                    self.settings = {**content["settings"],
                                     "filters": content.get("filters", self.settings.get(
                                         "filters", {}))}
                self.session.submit(kind, request_id, content)
            elif kind == "export":
                self._emit({"type": "export", "id": request_id, "html": self.to_html()})
            elif kind in getattr(self.visualizer, "requests", {}):
                # request types a visualiser adds (a store's pages: widget/stored.py)
                self.visualizer.requests[kind](self, content)
            else:
                raise ValueError(f"unknown message type {kind!r}")
        except Exception as error:
            self._emit({"type": "done", "id": request_id, "kind": kind, "state": "error",
                        "message": f"{type(error).__name__}: {error}"})

    # -- Python -> front end ----------------------------------------------------------------------
    def _emit(self, message: Dict[str, Any]) -> None:
        if message.get("type") == "done":
            self.status = {key: message.get(key) for key in
                           ("id", "kind", "state", "message", "dataset_end", "scanned", "found",
                            "page")}
        if self.transport is not None:
            self.transport(message)
            return
        content, paths, buffers = split_buffers(message)
        content["buffer_paths"] = paths
        self.send(content, buffers)

    def _should_send_property(self, key: str, value: Any) -> bool:
        if key in ("examples", "generation") and getattr(self._quiet, "active", False):
            return False
        return super()._should_send_property(key, value)

    def close(self) -> None:
        """Stop the compute session (its worker thread ends) and close the widget."""
        self.session.close()
        super().close()

    # -- Python API -------------------------------------------------------------------------------
    def fetch(self, settings: Optional[Dict[str, Any]] = None,
              filters: Optional[Dict[str, Any]] = None, wait: bool = True) -> None:
        """Fetch from Python, exactly as the Fetch button does."""
        self._on_message(self, {"type": "fetch", "id": f"py-{uuid.uuid4().hex[:8]}",
                                "settings": settings or {}, "filters": filters or {}}, [])
        if wait:
            self.session.wait()

    def to_html(self, path: Any = None) -> str:
        """A self-contained HTML page of the current state (see ``export.py``)."""
        from .export import widget_html

        html = widget_html(self)
        if path is not None:
            pathlib.Path(path).write_text(html, encoding="utf-8")
        return html
