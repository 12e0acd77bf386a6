"""Sparseness: the Gini index of the attribution magnitudes (Chalasani et al., ICML 2020)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..attr.core import format_inputs
from ._shapes import flatten_examples


def sparseness(attributions: Any) -> Tensor:
    r"""Gini index of :math:`|a|` per example:

    .. math::
        G = \frac{\sum_{i=1}^{d} (2i - d - 1)\, |a|_{(i)}}{d \sum_{i=1}^{d} |a|_{(i)}}

    with :math:`|a|_{(1)} \le \dots \le |a|_{(d)}` over all d values of the example (across
    every input tensor). Range [0, (d - 1) / d]: 0 for uniform magnitudes, (d - 1) / d for a
    single non-zero value; higher is sparser. NaN for an all-zero attribution.

    Args:
        attributions: tensor or tuple of tensors, dim 0 = N examples.

    Returns:
        Tensor of shape (N,).
    """
    formatted, _ = format_inputs(attributions, "attributions")
    values = flatten_examples(formatted, formatted[0].shape[0]).abs()
    values = values if values.is_floating_point() else values.double()
    ordered = values.sort(dim=1).values
    d = ordered.shape[1]
    weights = 2 * torch.arange(1, d + 1, dtype=ordered.dtype, device=ordered.device) - d - 1
    return (ordered * weights).sum(dim=1) / (d * ordered.sum(dim=1))
