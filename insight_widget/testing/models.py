"""Real architectures for tests, benchmarks and examples.

* :class:`ResidualConvNet`: conv net with batch norm, residual blocks, max-pooling, global
  average pooling and a linear head (3 x 32 x 32 images by default).
* :class:`EmbeddingTextClassifier`: token embedding, 1-D convolution, masked mean pooling and
  an MLP head; takes ``(token_ids, mask)`` (the mask as an additional forward argument).
* :class:`TabularMLP`: batch-normalised MLP for tabular rows.

Every non-linearity is its own module instance (hook-based algorithms such as DeepLift need
that). :func:`seeded` builds a model deterministically in eval mode with non-trivial batch-norm
statistics, so batch norm is not an identity in tests.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple, TypeVar

import torch
from torch import Tensor, nn

M = TypeVar("M", bound=nn.Module)


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus identity (or 1x1 projection) shortcut, then ReLU."""

    def __init__(self, channels_in: int, channels_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False),
                nn.BatchNorm2d(channels_out),
            )
        self.relu2 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class ResidualConvNet(nn.Module):
    """Small ResNet-style classifier: stem, two residual stages, max-pool, GAP, linear head."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.block1 = ResidualBlock(width, width)
        self.pool = nn.MaxPool2d(2)
        self.block2 = ResidualBlock(width, 2 * width, stride=2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.block1(self.relu(self.bn(self.conv(x)))))
        return self.fc(self.flatten(self.gap(self.block2(x))))


class EmbeddingTextClassifier(nn.Module):
    """Token ids (N, L) and a mask (N, L) -> class logits (N, C).

    ``forward_embedded(embeddings, mask)`` runs everything after the embedding layer, so
    gradient methods can attribute to embeddings directly.
    """

    def __init__(self, vocab_size: int = 60, embedding_dim: int = 16, num_classes: int = 3,
                 channels: int = 24, padding_idx: int = 0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.conv = nn.Conv1d(embedding_dim, channels, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.fc1 = nn.Linear(channels, channels)
        self.relu2 = nn.ReLU()
        self.fc2 = nn.Linear(channels, num_classes)

    def forward_embedded(self, embeddings: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        hidden = self.relu1(self.conv(embeddings.transpose(1, 2))).transpose(1, 2)
        if mask is None:
            pooled = hidden.mean(1)
        else:
            weights = mask.to(hidden.dtype).unsqueeze(-1)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return self.fc2(self.relu2(self.fc1(pooled)))

    def forward(self, token_ids: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        return self.forward_embedded(self.embedding(token_ids), mask)


class TabularMLP(nn.Module):
    """Linear-BN-ReLU-Linear-ReLU-Linear classifier for tabular rows (N, F)."""

    def __init__(self, in_features: int = 12, hidden: Tuple[int, int] = (32, 16),
                 num_classes: int = 3) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden[0])
        self.bn1 = nn.BatchNorm1d(hidden[0])
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(hidden[1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc3(self.relu2(self.fc2(self.relu1(self.bn1(self.fc1(x))))))


def randomize_batch_norm(model: nn.Module, generator: torch.Generator) -> None:
    """Give every batch-norm layer non-trivial running statistics and affine parameters."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                module.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                if module.affine:
                    module.weight.copy_(0.8 + 0.4 * torch.rand(n, generator=generator))
                    module.bias.copy_(0.1 * torch.randn(n, generator=generator))


def seeded(factory: Callable[..., M], seed: int = 0, **kwargs: object) -> M:
    """Build ``factory(**kwargs)`` with weights from ``seed``, in eval mode."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = factory(**kwargs)
    randomize_batch_norm(model, torch.Generator().manual_seed(seed + 1))
    return model.eval()


def image_batch(n: int = 4, channels: int = 3, size: int = 32, seed: int = 0) -> Tensor:
    """Standard-normal images (n, channels, size, size)."""
    return torch.randn(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def token_batch(n: int = 4, length: int = 12, vocab_size: int = 60, seed: int = 0
                ) -> Tuple[Tensor, Tensor]:
    """Random token ids in [1, vocab) with trailing padding (id 0) and the matching mask."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab_size, (n, length), generator=generator)
    lengths = torch.randint(length // 2, length + 1, (n,), generator=generator)
    mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
    return ids * mask, mask.to(torch.float32)


def tabular_batch(n: int = 8, features: int = 12, seed: int = 0) -> Tensor:
    """Standard-normal tabular rows (n, features)."""
    return torch.randn(n, features, generator=torch.Generator().manual_seed(seed))
