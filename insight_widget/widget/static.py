"""Where the built front end lives: ``insight_widget/static`` (``widget.js``, ``widget.css``,
written by ``npm run build`` from ``js/``)."""

from __future__ import annotations

import pathlib

STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"
