"""Shared machinery of the attribution engine: one module per concern (see each docstring)."""
