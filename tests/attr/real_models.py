"""Real architectures for differential tests (shared by every algorithm family).

Each :class:`Scenario` is a model (or a forward function over a model) with inputs, a target in
one of Captum's forms, optional additional forward arguments and a baseline in one of the
accepted forms. :func:`scenarios` returns the matrix used by the differential tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List

import pytest
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


class EmbeddedText(nn.Module):
    """Text classifier from the embedding output on (float inputs, mask as extra argument)."""

    def __init__(self, model: EmbeddingTextClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model.forward_embedded(embeddings, mask)


class TwoInputNet(nn.Module):
    """An image and a tabular row through separate towers, fused by a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.image = ResidualConvNet(num_classes=6, width=4)
        self.table = TabularMLP(in_features=5, num_classes=6)
        self.relu = nn.ReLU()
        self.head = nn.Linear(12, 4)

    def forward(self, image: torch.Tensor, row: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        features = torch.cat([self.image(image), self.table(row)], dim=1)
        return self.head(self.relu(features)) * scale


@dataclass
class Scenario:
    name: str
    model: nn.Module
    inputs: Any
    target: Any = None
    additional_forward_args: Any = None
    baselines: Any = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def call(self, **kwargs: Any) -> Dict[str, Any]:
        """Keyword arguments for ``attribute`` (without baselines unless asked)."""
        base = {"target": self.target}
        if self.additional_forward_args is not None:
            base["additional_forward_args"] = self.additional_forward_args
        return {**base, **kwargs}


def _conv() -> ResidualConvNet:
    return seeded(ResidualConvNet, seed=3, width=6)


def scenarios(size: int = 16) -> List[Scenario]:
    """Conv net (batch norm + residuals), text model over embeddings, MLP, and a two-input
    model; every target form (int, tuple, tensor, per-example list/tensor, list of tuples) and
    baseline form (None, number, tensor per example, one example, tuple)."""
    images = image_batch(3, size=size, seed=1)
    text_model = seeded(EmbeddingTextClassifier, seed=4)
    ids, mask = token_batch(3, length=10, seed=2)
    with torch.no_grad():
        embeddings = text_model.embedding(ids)
    rows = tabular_batch(5, seed=3)
    two = seeded(TwoInputNet, seed=5)
    two_inputs = (image_batch(2, size=size, seed=6), tabular_batch(2, features=5, seed=7))
    return [
        Scenario("conv-int-target", _conv(), images, target=3),
        Scenario("conv-per-example-list", _conv(), images, target=[0, 5, 9],
                 baselines=0.25),
        Scenario("conv-tensor-target-one-example-baseline", _conv(), images,
                 target=torch.tensor([1, 1, 2]), baselines=images.mean(0, keepdim=True)),
        Scenario("text-embeddings-mask-arg", EmbeddedText(text_model).eval(), embeddings,
                 target=[2, 0, 1], additional_forward_args=(mask,),
                 baselines=torch.zeros_like(embeddings)),
        Scenario("mlp-tuple-target", seeded(TabularMLP, seed=6), rows, target=(2,),
                 baselines=torch.randn(5, 12, generator=torch.Generator().manual_seed(9))),
        Scenario("mlp-scalar-tensor-target", seeded(TabularMLP, seed=7), rows,
                 target=torch.tensor(1)),
        Scenario("two-input-tuple-baselines", two, two_inputs, target=[3, 1],
                 additional_forward_args=(0.5,),
                 baselines=(0.0, torch.zeros(1, 5))),
    ]


def scenario_params(size: int = 16) -> List[Any]:
    return [pytest.param(s, id=s.name) for s in scenarios(size)]


def with_baselines(scenario: Scenario, **kwargs: Any) -> Dict[str, Any]:
    """Call kwargs including the scenario's baselines."""
    return scenario.call(baselines=scenario.baselines, **kwargs)


class SequenceLogits(nn.Module):
    """A Hugging Face sequence classifier called as ``model(token_ids, attention_mask)`` and
    returning its logits tensor (N, C) (the form attribution methods and the visualiser take)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=token_ids, attention_mask=attention_mask).logits


def tiny_transformer(architecture: str, num_labels: int = 3, seed: int = 0) -> SequenceLogits:
    """A randomly initialised (seeded) ``transformers`` BERT or GPT-2 sequence classifier built
    from a tiny config: the real architectures (attention, LayerNorm, GELU, position
    embeddings), nothing downloaded. Vocabulary of 40 tokens, id 0 is padding."""
    import transformers

    torch.manual_seed(seed)
    if architecture == "bert":
        config = transformers.BertConfig(
            vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=32, max_position_embeddings=32, num_labels=num_labels,
            pad_token_id=0)
        model = transformers.BertForSequenceClassification(config)
    elif architecture == "gpt2":
        config = transformers.GPT2Config(
            vocab_size=40, n_embd=16, n_layer=2, n_head=2, n_positions=32,
            num_labels=num_labels, pad_token_id=0, bos_token_id=0, eos_token_id=0)
        model = transformers.GPT2ForSequenceClassification(config)
    else:
        raise ValueError(f"unknown architecture {architecture!r}; choose 'bert' or 'gpt2'.")
    return SequenceLogits(model.eval())


def token_ids_and_mask(examples: int = 2, length: int = 7, seed: int = 1):
    """Token ids in 1..39 with the last two positions of the second example padded (id 0,
    mask 0), and the attention mask (both (N, L) int64)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 40, (examples, length), generator=generator)
    mask = torch.ones_like(ids)
    if examples > 1:
        ids[1, -2:] = 0
        mask[1, -2:] = 0
    return ids, mask
