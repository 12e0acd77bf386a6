"""Models and data generators for tests, benchmarks and examples (no downloads)."""

from .counting import ForwardCounter
from .models import (
    EmbeddingTextClassifier,
    ResidualBlock,
    ResidualConvNet,
    TabularMLP,
    image_batch,
    seeded,
    tabular_batch,
    token_batch,
)

__all__ = [
    "EmbeddingTextClassifier",
    "ForwardCounter",
    "ResidualBlock",
    "ResidualConvNet",
    "TabularMLP",
    "image_batch",
    "seeded",
    "tabular_batch",
    "token_batch",
]
