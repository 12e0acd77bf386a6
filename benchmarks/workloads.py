"""Models and inputs the benchmark families share (real architectures, fixed seeds)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Optional, Tuple

import torch
from torch import nn

from insight_widget.testing import (
    EmbeddingTextClassifier,
    ResidualConvNet,
    TabularMLP,
    image_batch,
    seeded,
    tabular_batch,
    token_batch,
)


@dataclass(frozen=True)
class Workload:
    name: str
    model: nn.Module
    inputs: Any
    target: Any
    additional_forward_args: Optional[Tuple[Any, ...]] = None
    forward: Any = None  # callable to explain when it is not the model itself

    @property
    def forward_func(self):
        return self.forward if self.forward is not None else self.model


class _EmbeddedText(nn.Module):
    """The text classifier from embeddings on: a float-input module for gradient methods."""

    def __init__(self, model: EmbeddingTextClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, embeddings, mask):
        return self.model.forward_embedded(embeddings, mask)


@cache
def conv(batch: int = 8, size: int = 32) -> Workload:
    return Workload(f"resnet{size}x{size}xN{batch}", seeded(ResidualConvNet),
                    image_batch(batch, size=size), torch.arange(batch) % 10)


@cache
def mlp(batch: int = 64) -> Workload:
    return Workload(f"mlpN{batch}", seeded(TabularMLP), tabular_batch(batch), 1)


@cache
def text(batch: int = 8) -> Workload:
    model = seeded(EmbeddingTextClassifier)
    ids, mask = token_batch(batch)
    with torch.no_grad():
        embeddings = model.embedding(ids)
    wrapper = _EmbeddedText(model).eval()
    return Workload(f"textN{batch}", wrapper, embeddings, [i % 3 for i in range(batch)], (mask,))
