"""Complexity: the entropy of the attribution distribution (Bhatt, Weller, Moura, 2020)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..attr.core import format_inputs
from ._shapes import flatten_examples


def complexity(attributions: Any) -> Tensor:
    r"""Entropy of the fractional contributions :math:`P_i = |a_i| / \sum_j |a_j|` per example:

    .. math::
        H = -\sum_i P_i \ln P_i

    (terms with :math:`P_i = 0` count as 0). Range [0, ln d] over the d values of an example
    (across every input tensor): 0 for a single non-zero value, ln d for uniform magnitudes;
    lower is simpler. NaN for an all-zero attribution.

    Args:
        attributions: tensor or tuple of tensors, dim 0 = N examples.

    Returns:
        Tensor of shape (N,).
    """
    formatted, _ = format_inputs(attributions, "attributions")
    values = flatten_examples(formatted, formatted[0].shape[0]).abs()
    values = values if values.is_floating_point() else values.double()
    totals = values.sum(dim=1, keepdim=True)
    shares = values / totals
    terms = torch.where(shares > 0, shares * shares.log(), torch.zeros_like(shares))
    entropy = 0.0 - terms.sum(dim=1)  # 0.0 - x avoids printing -0. for one-hot rows
    return torch.where(totals.squeeze(1) == 0, torch.full_like(entropy, float("nan")), entropy)
