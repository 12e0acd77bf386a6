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
def wide_conv(batch: int = 4, width: int = 32) -> Workload:
    """The residual CNN with 32 channels: compute-bound on CPU (its convolutions, not Python
    overhead, take the time; a 32-channel activation of one 32x32 image is 128 KiB)."""
    return Workload(f"resnet32x32xN{batch}w{width}", seeded(ResidualConvNet, width=width),
                    image_batch(batch), torch.arange(batch) % 10)


class _Logits(nn.Module):
    """A Hugging Face image classifier returning its logits tensor (what attribution needs)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).logits


@cache
def resnet50(batch: int = 4) -> Optional[Workload]:
    """transformers' ResNet-50 (``ResNetConfig()`` defaults: 2 classes) with seeded random
    weights, nothing downloaded, on 224x224 images; None when transformers is absent."""
    try:
        from transformers import ResNetConfig, ResNetForImageClassification
    except ImportError:
        return None
    model = seeded(lambda: _Logits(ResNetForImageClassification(ResNetConfig())))
    return Workload(f"hf-resnet50-224xN{batch}", model, image_batch(batch, size=224),
                    torch.arange(batch) % 2)


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
