"""Faithfulness correlation (Bhatt, Weller, Moura, IJCAI 2020)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from torch import Tensor

from ..attr.core import (
    check_int,
    check_optional_int,
    describe,
    expand_baselines,
    format_baselines,
    format_inputs,
    prepare_call,
)
from ._batches import evaluate_variants, score_function
from ._correlation import pearson
from ._features import compose, features_of
from ._shapes import check_same_shapes


@dataclass(frozen=True)
class FaithfulnessResult:
    """Per example: the correlation and the pairs it was computed from.

    Attributes:
        correlation: (N,) Pearson correlation over the random subsets (NaN when either side
            is constant).
        attribution_sums: (N, n_subsets) sum of the attributions of each subset.
        output_drops: (N, n_subsets) f(x) - f(x with the subset set to the baseline).
    """

    correlation: Tensor
    attribution_sums: Tensor
    output_drops: Tensor


def faithfulness_correlation(
    forward_func: Callable[..., Any],
    inputs: Any,
    attributions: Any,
    baselines: Any = None,
    target: Any = None,
    additional_forward_args: Any = None,
    feature_mask: Any = None,
    n_subsets: int = 100,
    subset_size: Optional[int] = None,
    softmax: Optional[bool] = False,
    max_examples_per_batch: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
) -> FaithfulnessResult:
    r"""Correlation between the attribution mass of random feature subsets S and the output
    drop when S is set to the baseline:

    .. math::
        \mu_F = \operatorname{corr}_{S \subset [G], |S| = k}
        \Big(\sum_{i \in S} a_i,\; f(x) - f(x_{[S \leftarrow \bar x]})\Big)

    For a linear model and a = w * (x - x̄) with the same baseline, both sides are equal and
    the correlation is 1.

    Args:
        forward_func: the model or any callable returning the output tensor.
        inputs: tensor or tuple of tensors, dim 0 = N examples.
        attributions: attributions with the shapes of ``inputs``.
        baselines: the reference x̄ (Captum's forms; None = zeros).
        target: output index per example; None = the predicted class for class scores (N, C).
        additional_forward_args: extra model arguments.
        feature_mask: feature groups (see :func:`insight_widget.metrics.deletion`).
        n_subsets: random subsets per example (Quantus' ``nr_runs``, default 100).
        subset_size: features per subset k; None = min(224, max(1, G // 4)) for G features
            (Quantus uses 224 for images).
        softmax: score probabilities instead of the raw output (default False).
        max_examples_per_batch: rows per forward pass; None = memory budget.
        generator: random generator for the subsets (default: torch's global one).

    Returns:
        :class:`FaithfulnessResult`. Costs ``n_subsets`` forward rows per example plus one.
    """
    n_subsets = check_int("n_subsets", n_subsets, minimum=2)
    call = prepare_call(inputs, target, additional_forward_args)
    attributions_, _ = format_inputs(attributions, "attributions")
    check_same_shapes(attributions_, call.inputs, "attributions", "inputs")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"`generator` must be a torch.Generator; got {describe(generator)}.")
    features = features_of(call.inputs, feature_mask)
    size = check_optional_int("subset_size", subset_size, minimum=1)
    if size is None:
        size = min(224, max(1, features.count // 4))
    if size > features.count:
        raise ValueError(
            f"`subset_size` must be at most the number of features ({features.count}); got "
            f"{size}."
        )
    reference = expand_baselines(format_baselines(baselines, call.inputs), call.inputs)
    scored = score_function(forward_func, call, softmax, n_subsets, max_examples_per_batch)
    n = call.num_examples
    device = call.inputs[0].device
    # One draw per subset keeps the subsets independent of the chunking (and memory at
    # n_subsets x N x k indices rather than n_subsets x N x G draws).
    subsets = torch.stack([torch.rand(n, features.count, generator=generator)
                           .topk(size, dim=1).indices for _ in range(n_subsets)]).to(device)

    def build(start: int, stop: int):
        chosen = torch.zeros(stop - start, n, features.count, dtype=torch.bool, device=device)
        chosen.scatter_(2, subsets[start:stop], True)
        return compose(features.element_mask(chosen), reference, call.inputs)

    perturbed = evaluate_variants(scored, build, n_subsets)
    drops = scored.original.unsqueeze(1) - perturbed
    feature_scores = features.scores(attributions_)
    sums = feature_scores.unsqueeze(0).expand(n_subsets, -1, -1).gather(2, subsets).sum(2).T
    return FaithfulnessResult(pearson(sums.to(drops.dtype), drops), sums, drops)
