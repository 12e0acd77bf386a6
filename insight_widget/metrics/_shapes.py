"""Shape checks shared by the metrics (errors name the argument, expected vs got)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def check_same_shapes(tensors: Sequence[Tensor], reference: Sequence[Tensor], name: str,
                      reference_name: str) -> None:
    """Raise ``ValueError`` unless ``tensors`` has one tensor per reference, shaped alike."""
    got = [tuple(t.shape) for t in tensors]
    expected = [tuple(t.shape) for t in reference]
    if got != expected:
        raise ValueError(
            f"`{name}` must have the shapes of `{reference_name}` {expected}; got {got}."
        )


def one_value_per_row(output: Tensor, rows: int, name: str) -> Tensor:
    """The selected model output as a vector of ``rows`` values (shape (rows,))."""
    if output.dim() == 0 or output.shape[0] != rows or output[0].numel() != 1:
        raise ValueError(
            f"`{name}` must produce one value per example after target selection ({rows} "
            f"values); got an output of shape {tuple(output.shape)}. Pass `target` to choose "
            "the output to evaluate."
        )
    return output.reshape(rows)


def flatten_examples(tensors: Sequence[Tensor], num_examples: int) -> Tensor:
    """All values of each example, across every tensor, as one row: shape (N, D)."""
    return torch.cat([t.reshape(num_examples, -1) for t in tensors], dim=1)
