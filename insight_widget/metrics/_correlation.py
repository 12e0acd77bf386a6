"""Row-wise Pearson and Spearman correlation of (N, D) tensors."""

from __future__ import annotations

import torch
from torch import Tensor


def pearson(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of each row of ``a`` with the same row of ``b``, shape (N,).
    NaN where a row is constant (the correlation is undefined)."""
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1))


def average_ranks(values: Tensor) -> Tensor:
    """1-based ranks of each row's values, ties sharing their average rank, shape (N, D),
    in float64 (sums of rank products overflow float32's precision for large D)."""
    ordered = values.sort(dim=1).values.contiguous()
    below = torch.searchsorted(ordered, values.contiguous(), right=False)
    at_most = torch.searchsorted(ordered, values.contiguous(), right=True)
    return (below + at_most + 1).double() / 2


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation of each row pair (Pearson of average ranks), shape (N,),
    in ``a``'s dtype."""
    return pearson(average_ranks(a), average_ranks(b)).to(a.dtype)
