"""A self-contained HTML page of the visualiser's current state (no kernel, no CDN).

The page inlines the page bundle (``static/page.js``, from ``js/src/page.ts``: the widget plus
an in-page model) and its CSS, and the traits as JSON whose bytes are base64 strings
(``{"$bytes": ...}``), turned back into ``DataView`` before the widget renders. Re-colouring
(sign, colour map, overlay, normalisation) works offline; controls that need the kernel say so.
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from .static import STATIC
from .wire import replace_bytes

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>{css}</style></head>
<body><div id="insight-widget-root"></div>
<script id="insight-widget-state" type="application/json">{state}</script>
<script id="insight-widget-page" type="application/json">{page}</script>
<script type="module" src="data:text/javascript;base64,{script}"></script>
</body></html>
"""
# The page's script is js/src/page.ts (built into static/page.js): it revives the state, builds
# an in-page model and talks to the kernel through the transport that "insight-widget-page"
# names ("static": none, the offline export; "http": serve()'s /send and /poll).
TRANSPORTS = ("static", "http")


def _base64_bytes(value: Any) -> Any:
    return replace_bytes(value, lambda data, _path: {
        "$bytes": base64.b64encode(data).decode("ascii")})


def state_json(widget: Any) -> str:
    """The widget's traits as JSON, bytes as ``{"$bytes": base64}``, safe inside <script>."""
    state = {key: getattr(widget, key) for key in widget.state_keys}
    text = json.dumps(_base64_bytes(state), separators=(",", ":"))
    return text.replace("</", "<\\/")  # "</" would end the <script> element early


def message_json(message: Any) -> Any:
    """A kernel message with its bytes inline as ``{"$bytes": base64}`` (no buffers)."""
    return {**_base64_bytes(message), "buffer_paths": []}


def widget_html(widget: Any, title: str = "insight_widget", transport: str = "static",
                after: int = 0) -> str:
    """The page for ``widget`` (a :class:`~insight_widget.widget.widget.VisualizerWidget`).

    ``transport``: "static" for the offline export; "http" for ``server.py``, whose page
    long-polls for replies numbered above ``after``."""
    if transport not in TRANSPORTS:
        raise ValueError(f"`transport` must be one of {TRANSPORTS}; got {transport!r}.")
    script_path = STATIC / "page.js"
    if not script_path.exists():
        raise FileNotFoundError("insight_widget/static/page.js is missing: build the front "
                                "end (`npm ci && npm run build`) before exporting.")
    css_path = STATIC / "widget.css"
    page = json.dumps({"transport": transport, "after": int(after)})
    return PAGE.format(
        title=html.escape(title),
        css=css_path.read_text(encoding="utf-8") if css_path.exists() else "",
        state=state_json(widget), page=page,
        script=base64.b64encode(script_path.read_bytes()).decode("ascii"))
