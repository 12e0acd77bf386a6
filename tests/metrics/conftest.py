"""Metrics tests draw figures: use matplotlib's non-interactive Agg backend."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
