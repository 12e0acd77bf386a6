"""Showing the widget: inline, or in JupyterLab's right-hand side panel through ``sidecar``
(with a visible inline fallback on hosts that have no side area)."""

from __future__ import annotations

import os
import sys
from typing import Any


def side_panel_supported() -> bool:
    """Whether a sidecar panel will be seen: the ``sidecar`` package is installed and the kernel
    was started by a Jupyter server for a notebook (JupyterLab / Notebook 7), not by Colab,
    VS Code, Voila (whose kernels get ``SERVER_SOFTWARE=voila/...``) or marimo."""
    try:
        import sidecar  # noqa: F401
    except ImportError:
        return False
    env = os.environ
    if "google.colab" in sys.modules or "marimo" in sys.modules:
        return False
    if any(key.startswith("VSCODE_") for key in env):
        return False
    if env.get("SERVER_SOFTWARE", "").startswith("voila"):
        return False
    return "JPY_SESSION_NAME" in env


def show(widget: Any, side_panel: bool = False, title: str = "insight_widget") -> None:
    """Display ``widget`` once: inline, or in the side panel when asked and supported.

    With the side panel, the widget is also displayed inline, where its view stands aside
    (one line) while the panel's view exists. Hosts that run a Jupyter server but have no side
    area (Notebook 7 with sidecar installed) never create the panel's view; there the inline
    view shows the widget after a short wait, and says why (see ``js/src/index.ts``)."""
    from IPython.display import display

    if side_panel and side_panel_supported():
        from sidecar import Sidecar

        widget.in_side_panel = True
        panel = Sidecar(title=title, anchor="right")
        with panel:
            display(widget)
        widget.side_panel = panel
    else:
        widget.in_side_panel = False
    display(widget)
