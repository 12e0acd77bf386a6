"""Features for the perturbation metrics: which input elements move together, their scores,
their ranking, and batches of inputs with chosen features replaced.

A *feature* is a group of input elements moved together, given by a Captum-style
``feature_mask`` (validated by the engine's ``format_feature_mask``: an integer tensor per
input, broadcastable to it, first dimension 1 or N; equal ids form one feature, also across
inputs). Without a mask, inputs of 4 or more dimensions (N, C, H, W, ...) group all channels of
a location (a *pixel*, as in RISE); other inputs use one feature per element. A feature's
score is the sum of its attributions.

Batches are built vectorised: ``R`` variants of the N examples, each with a boolean choice of
features (R, N, G), become ``R x N`` rows laid out variant-major (variant 0's N examples,
then variant 1's, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence, Tuple

import torch
from torch import Tensor

from ..attr.core import format_feature_mask


@dataclass(frozen=True)
class Features:
    """Feature (group) position of every element: ``index`` is (N, D) over the flattened,
    concatenated inputs (D elements per example), with positions in ``range(count)``."""

    index: Tensor
    count: int
    shapes: Tuple[torch.Size, ...]

    @property
    def num_examples(self) -> int:
        return self.index.shape[0]

    def scores(self, attributions: Sequence[Tensor]) -> Tensor:
        """Sum of the attributions of each feature, shape (N, G)."""
        flat = torch.cat([a.reshape(self.num_examples, -1) for a in attributions], dim=1)
        totals = torch.zeros(self.num_examples, self.count, dtype=flat.dtype, device=flat.device)
        return totals.scatter_add_(1, self.index.to(flat.device), flat)

    def element_mask(self, chosen: Tensor) -> Tuple[Tensor, ...]:
        """Boolean masks of the elements of chosen features, one per input, shaped
        (R, N, *input.shape[1:]), from ``chosen`` of shape (R, N, G)."""
        variants = chosen.shape[0]
        index = self.index.to(chosen.device).unsqueeze(0).expand(variants, -1, -1)
        flat = chosen.gather(2, index)
        masks, start = [], 0
        for shape in self.shapes:
            size = _numel(shape[1:])
            masks.append(flat[:, :, start:start + size].reshape(variants, *shape))
            start += size
        return tuple(masks)


def _numel(shape: Sequence[int]) -> int:
    count = 1
    for size in shape:
        count *= int(size)
    return count


def features_of(inputs: Tuple[Tensor, ...], feature_mask: Any = None) -> Features:
    """The :class:`Features` of ``inputs``: ``feature_mask`` validated and numbered by the
    engine's :func:`format_feature_mask`, or the metrics' default (pixels for 4+-D inputs)."""
    masks = format_feature_mask(
        _default_mask(inputs) if feature_mask is None else feature_mask, inputs)
    n = inputs[0].shape[0]
    index = torch.cat([p.expand(n, *x.shape[1:]).reshape(n, -1)
                       for p, x in zip(masks.positions, inputs)], dim=1)
    return Features(index.contiguous(), masks.n_groups, tuple(x.shape for x in inputs))


def _default_mask(inputs: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
    """One id per location shared across the channel dim 1 for 4+-D inputs (N, C, H, W, ...),
    one id per element otherwise; ids consecutive across inputs."""
    masks, offset = [], 0
    for x in inputs:
        shape = (1, *x.shape[2:]) if x.dim() >= 4 else tuple(x.shape[1:])
        count = _numel(shape)
        masks.append(torch.arange(offset, offset + count, device=x.device).reshape(1, *shape))
        offset += count
    return tuple(masks)


def ranks(scores: Tensor, descending: bool = True) -> Tensor:
    """Position of each feature in the order of its score, shape (N, G) (0 = first moved).
    Ties keep the features' index order."""
    order = torch.argsort(scores, dim=1, descending=descending, stable=True)
    positions = torch.empty_like(order)
    columns = torch.arange(scores.shape[1], device=scores.device).expand_as(order)
    return positions.scatter_(1, order, columns)


def first_features(feature_ranks: Tensor, counts: Tensor) -> Tensor:
    """Boolean (R, N, G): feature ranked among the first ``counts[r]`` for each variant r."""
    return feature_ranks.unsqueeze(0) < counts.to(feature_ranks.device).view(-1, 1, 1)


def compose(chosen_masks: Tuple[Tensor, ...], where_chosen: Sequence[Tensor],
            elsewhere: Sequence[Tensor]) -> Tuple[Tensor, ...]:
    """Rows (R*N, ...) taking ``where_chosen`` at chosen elements and ``elsewhere`` at the
    others (both broadcastable to the inputs)."""
    rows = []
    for mask, chosen, other in zip(chosen_masks, where_chosen, elsewhere):
        combined = torch.where(mask, chosen.unsqueeze(0), other.unsqueeze(0))
        rows.append(combined.reshape(-1, *combined.shape[2:]))
    return tuple(rows)

