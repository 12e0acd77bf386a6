"""Small models and datasets shaped like the Captum Insights tutorials (CIFAR, multimodal VQA),
plus tabular, time-series and failing models, for the widget tests."""

from __future__ import annotations

from typing import List

import torch
from torch import Tensor, nn

from insight_widget import Batch

CIFAR_CLASSES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class TinyCifarNet(nn.Module):
    """The Insights CIFAR tutorial's LeNet shape, narrower: conv-pool-conv-pool-fc-fc-fc."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 4, 5)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(4, 6, 5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(6 * 5 * 5, 24)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(24, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(x.flatten(1))))


def cifar_like(batches: int = 3, batch_size: int = 4, seed: int = 0,
               labeled: bool = True, channels: int = 3) -> List[Batch]:
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(batches):
        images = torch.rand(batch_size, channels, 32, 32, generator=generator)
        labels = torch.randint(0, 10, (batch_size,), generator=generator) if labeled else None
        out.append(Batch(inputs=images, labels=labels))
    return out


class TinyVQA(nn.Module):
    """VQA-tutorial shape: an image and a question given as word embeddings (the tutorial used
    ``configure_interpretable_embedding_layer``), plus the question length as an extra arg."""

    def __init__(self, vocab: int = 20, dim: int = 6, answers: int = 5) -> None:
        super().__init__()
        # outside the module tree, like the tutorial's interpretable embedding: the model
        # itself takes embeddings
        self.__dict__["embedding"] = nn.Embedding(vocab, dim)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.text = nn.Linear(dim, 4)
        self.head = nn.Linear(8, answers)

    def forward(self, image: Tensor, question: Tensor, q_len: Tensor) -> Tensor:
        picture = self.pool(self.relu(self.conv(image))).flatten(1)
        steps = torch.arange(question.shape[1], device=question.device)
        mask = (steps[None, :] < q_len.reshape(-1, 1)).float().unsqueeze(-1)
        words = (self.text(question) * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.head(torch.cat([picture, words], 1))


class TinyTabular(nn.Module):
    def __init__(self, columns: int = 5, classes: int = 3) -> None:
        super().__init__()
        self.fc1 = nn.Linear(columns, 8)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(8, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.relu(self.fc1(x)))


class TinySignal(nn.Module):
    """Time series (N, 1, T) -> 2 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 5, padding=2)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


class RaisesUnderGrad(nn.Module):
    """Predicts fine (no grad) but raises inside any gradient attribution."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = TinyCifarNet()

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled():
            raise RuntimeError("model exploded on purpose")
        return self.inner(x)


def seeded(module: nn.Module, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    for parameter in module.parameters():
        nn.init.normal_(parameter, std=0.3)
    return module.eval()


class SlowUnderGrad(nn.Module):
    """Sleeps ``delay`` seconds per forward with gradients on: makes attributions long."""

    def __init__(self, delay: float = 0.02) -> None:
        super().__init__()
        self.inner = TinyCifarNet()
        self.delay = delay

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled():
            import time

            time.sleep(self.delay)
        return self.inner(x)
