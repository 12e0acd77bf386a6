"""A small, deterministic training loop shared by the demo models' ``train`` functions."""

from __future__ import annotations

import time
from typing import Callable, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

# One epoch's data: (model inputs as a tuple of tensors with examples on dim 0, labels).
EpochData = Tuple[Tuple[Tensor, ...], Tensor]
Logger = Optional[Callable[[str], None]]


def fit(
    model: nn.Module,
    epoch_data: Callable[[int], EpochData],
    epochs: int,
    batch_size: int = 128,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    seed: int = 0,
    log: Logger = print,
) -> nn.Module:
    """Train ``model`` with Adam, cross-entropy and a one-cycle learning-rate schedule.

    ``epoch_data(epoch)`` returns that epoch's examples, so generated data sets can draw fresh
    scenes every epoch. Shuffling and dropout use a private generator seeded with ``seed``;
    the global RNG state is restored afterwards. Returns the model in eval mode.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        shuffle = torch.Generator().manual_seed(seed)
        first_inputs, first_labels = epoch_data(0)
        steps_per_epoch = -(-len(first_labels) // batch_size)
        optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimiser, max_lr=lr, total_steps=epochs * steps_per_epoch
        )
        loss_fn = nn.CrossEntropyLoss()
        for epoch in range(epochs):
            start = time.perf_counter()
            inputs, labels = (first_inputs, first_labels) if epoch == 0 else epoch_data(epoch)
            model.train()
            order = torch.randperm(len(labels), generator=shuffle)
            total, correct, loss_sum = 0, 0, 0.0
            for begin in range(0, len(labels), batch_size):
                rows = order[begin:begin + batch_size]
                if len(rows) < 2:  # batch norm needs more than one row
                    continue
                logits = model(*(x[rows] for x in inputs))
                loss = loss_fn(logits, labels[rows])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                if schedule.last_epoch + 1 < schedule.total_steps:
                    schedule.step()
                loss_sum += loss.item() * len(rows)
                correct += int((logits.argmax(1) == labels[rows]).sum())
                total += len(rows)
            if log is not None:
                log(f"epoch {epoch + 1}/{epochs}: loss {loss_sum / total:.4f}, "
                    f"train accuracy {correct / total:.3f} ({time.perf_counter() - start:.1f} s)")
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, inputs: Sequence[Tensor], batch_size: int = 512) -> Tensor:
    """Predicted class indices (N,) of ``model`` (in eval mode) on ``inputs``."""
    model.eval()
    n = len(inputs[0])
    out = [model(*(x[i:i + batch_size] for x in inputs)).argmax(1) for i in range(0, n, batch_size)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def accuracy(model: nn.Module, inputs: Sequence[Tensor], labels: Tensor) -> float:
    """Fraction of rows where ``model``'s top class equals ``labels``."""
    return float((predict(model, inputs) == labels).float().mean())
