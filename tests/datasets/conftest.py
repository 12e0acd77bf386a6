"""Small models and data for the dataset-attribution tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn

CLASSES = ["a", "b", "c"]


class TinyCNN(nn.Module):
    """3x6x6 images -> 3 classes; ``fail_on`` makes the forward raise for batches holding an
    example whose first pixel equals that value (a model failing on one batch, same weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4 * 6 * 6, 3)
        self.fail_on: float | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fail_on is not None and (x[:, 0, 0, 0] == self.fail_on).any():
            raise RuntimeError("the model failed on this batch")
        return self.fc(self.relu(self.conv(x)).flatten(1))


@pytest.fixture
def model() -> TinyCNN:
    torch.manual_seed(1)
    return TinyCNN().eval()


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(2)
    return torch.randn(50, 3, 6, 6, generator=g), torch.randint(3, (50,), generator=g)


def loader(images, labels, batch_size=8):
    data = torch.utils.data.TensorDataset(images, labels)
    return torch.utils.data.DataLoader(data, batch_size=batch_size)
