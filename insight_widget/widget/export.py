"""A self-contained HTML page of the visualiser's current state (no kernel, no CDN).

The page inlines the front-end bundle and its CSS, and the traits as JSON whose bytes are
base64 strings (``{"$bytes": ...}``), turned back into ``DataView`` before the bundle's
``render`` runs against a small in-page model. Re-colouring (sign, colour map, overlay,
normalisation) works offline; controls that need the kernel say so.
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
<script type="module">
const bundle = atob("{bundle}");
const url = URL.createObjectURL(new Blob([bundle], {{ type: "text/javascript" }}));
const raw = JSON.parse(document.getElementById("insight-widget-state").textContent);
const revive = (value) => {{
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {{
    if (typeof value.$bytes === "string") {{
      const text = atob(value.$bytes);
      const bytes = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
      return new DataView(bytes.buffer);
    }}
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
  }}
  return value;
}};
const state = revive(raw);
const listeners = new Map();
{transport}
const model = {{
  get: (key) => state[key],
  set: (key, value) => {{
    state[key] = value;
    (listeners.get("change:" + key) || []).forEach((f) => f());
  }},
  on: (name, f) => {{ listeners.set(name, [...(listeners.get(name) || []), f]); }},
  off: (name, f) => {{
    if (name) listeners.set(name, (listeners.get(name) || []).filter((g) => f && g !== f));
  }},
  save_changes: () => {{}},
  send: (content) => transport.send(content),
  static: transport.static,
}};
const module = await import(url);
module.default.render({{ model, el: document.getElementById("insight-widget-root") }});
const receive = (content) => {{
  (listeners.get("msg:custom") || []).forEach((f) => f(revive(content), []));
}};
transport.start(receive);
</script></body></html>
"""


STATIC_TRANSPORT = "const transport = { static: true, send: () => {}, start: () => {} };"


def _base64_bytes(value: Any) -> Any:
    return replace_bytes(value, lambda data, _path: {
        "$bytes": base64.b64encode(data).decode("ascii")})


def state_json(widget: Any) -> str:
    """The widget's traits as JSON, bytes as ``{"$bytes": base64}``, safe inside <script>."""
    state = {key: getattr(widget, key) for key in ("spec", "examples", "settings", "status",
                                                   "instance")}
    text = json.dumps(_base64_bytes(state), separators=(",", ":"))
    return text.replace("</", "<\\/")  # "</" would end the <script> element early


def message_json(message: Any) -> Any:
    """A kernel message with its bytes inline as ``{"$bytes": base64}`` (no buffers)."""
    return {**_base64_bytes(message), "buffer_paths": []}


def widget_html(widget: Any, title: str = "insight_widget",
                transport: str = STATIC_TRANSPORT) -> str:
    """The page for ``widget`` (a :class:`~insight_widget.widget.widget.VisualizerWidget`).

    ``transport`` is a script defining ``transport = {static, send(content), start(receive)}``:
    the default is the offline export; ``server.py`` passes one that talks HTTP."""
    bundle_path = STATIC / "widget.js"
    if not bundle_path.exists():
        raise FileNotFoundError("insight_widget/static/widget.js is missing: build the front "
                                "end (`npm ci && npm run build`) before exporting.")
    css_path = STATIC / "widget.css"
    return PAGE.format(
        title=html.escape(title),
        css=css_path.read_text(encoding="utf-8") if css_path.exists() else "",
        state=state_json(widget), transport=transport,
        bundle=base64.b64encode(bundle_path.read_bytes()).decode("ascii"))
