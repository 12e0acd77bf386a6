"""insight_widget: model interpretability for PyTorch, made to be seen."""

__version__ = "0.1.0"
