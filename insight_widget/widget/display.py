"""Showing the widget: inline, or in JupyterLab's right-hand side panel through ``sidecar``."""

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


def show(widget: Any, side_panel: bool = False, title: str = "insight_widget") -> Any:
    """Display ``widget`` (in the side panel when asked and supported) and return it."""
    from IPython.display import display

    if side_panel and side_panel_supported():
        from sidecar import Sidecar

        panel = Sidecar(title=title, anchor="right")
        with panel:
            display(widget)
        widget.side_panel = panel
    else:
        display(widget)
    return widget
