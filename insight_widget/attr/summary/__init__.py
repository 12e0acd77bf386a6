"""Summaries of attributions over a dataset (Captum's Summarizer and statistics)."""

__all__: list = []
