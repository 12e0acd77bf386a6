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
import pathlib
from typing import Any

from .wire import split_buffers

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
  send: () => {{}},
  static: true,
}};
const module = await import(url);
module.default.render({{ model, el: document.getElementById("insight-widget-root") }});
</script></body></html>
"""


def _base64_bytes(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {k: _base64_bytes(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_base64_bytes(v) for v in value]
    return value


def widget_html(widget: Any, title: str = "insight_widget") -> str:
    """The page for ``widget`` (a :class:`~insight_widget.widget.widget.VisualizerWidget`)."""
    static = pathlib.Path(__file__).resolve().parent.parent / "static"
    bundle_path = static / "widget.js"
    if not bundle_path.exists():
        raise FileNotFoundError("insight_widget/static/widget.js is missing: build the front "
                                "end (`npm ci && npm run build`) before exporting.")
    css_path = static / "widget.css"
    state = {key: getattr(widget, key) for key in ("spec", "examples", "settings", "status",
                                                   "instance")}
    split_buffers(state)  # validates that the state is JSON-like
    text = json.dumps(_base64_bytes(state), separators=(",", ":"))
    # "</" would end the <script> element early
    text = text.replace("</", "<\\/")
    return PAGE.format(
        title=html.escape(title),
        css=css_path.read_text(encoding="utf-8") if css_path.exists() else "",
        state=text,
        bundle=base64.b64encode(bundle_path.read_bytes()).decode("ascii"))
