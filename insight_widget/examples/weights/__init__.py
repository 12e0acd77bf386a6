"""Bundled state dicts of the demo models (``<name>.pt``); see ``insight_widget.examples.train``."""
