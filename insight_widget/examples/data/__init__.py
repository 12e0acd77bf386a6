"""Data files written for the demo models: the sentiment corpus and vocabulary, VQA questions."""
