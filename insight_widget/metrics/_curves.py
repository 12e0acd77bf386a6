"""Curves of the model score while features are moved step by step (deletion, insertion,
monotonicity), evaluated in batched no-grad passes.

At step k (k = 0..n) the first ``min(k * step, G)`` features in the metric's order take the
*moved* values and all others the *kept* values; n = ceil(G / step), so the last step may move
fewer than ``step`` features (as in RISE). The curve is plotted against the uniform fractions
k / n and its area is the trapezoid rule on [0, 1]:
``AUC = (sum_k p_k - p_0 / 2 - p_n / 2) / n`` (RISE's ``auc``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

import torch
from torch import Tensor

from ..attr.core import check_optional_int, format_inputs, prepare_call
from ._batches import Scored, evaluate_variants, score_function
from ._features import Features, compose, features_of, first_features, ranks
from ._shapes import check_same_shapes
from ._substrates import resolve_substrate


@dataclass(frozen=True)
class CurveResult:
    """A score curve per example.

    Attributes:
        curve: (N, n_steps + 1) model scores at each step (step 0 first).
        fractions: (n_steps + 1,) fraction of the steps done, k / n_steps, in [0, 1].
        auc: (N,) area under each curve (trapezoid rule on ``fractions``).
    """

    curve: Tensor
    fractions: Tensor
    auc: Tensor


def trapezoid_auc(curve: Tensor) -> Tensor:
    """Area under curves sampled at n + 1 uniform points of [0, 1], shape (N,)."""
    steps = curve.shape[1] - 1
    if steps == 0:
        return curve[:, 0].clone()
    return (curve.sum(dim=1) - curve[:, 0] / 2 - curve[:, -1] / 2) / steps


def features_per_step(step: Any, count: int) -> int:
    """``step`` features moved per step; None = ceil(G / 50) (about 50 steps)."""
    step = check_optional_int("step", step, minimum=1)
    return max(1, -(-count // 50)) if step is None else step


def number_of_steps(step: int, count: int) -> int:
    return -(-count // step)


def progressive_curve(
    scored: Scored,
    features: Features,
    feature_ranks: Tensor,
    moved: Tuple[Tensor, ...],
    kept: Tuple[Tensor, ...],
    step: int,
    known_end: str,
) -> CurveResult:
    """Scores at every step; ``known_end`` ("first" or "last") is the end equal to the
    unperturbed inputs, whose score is reused instead of evaluated again."""
    count = features.count
    n_steps = number_of_steps(step, count)
    offset = 1 if known_end == "first" else 0

    def build(start: int, stop: int) -> Tuple[Tensor, ...]:
        moved_counts = (torch.arange(start, stop) + offset) * step
        chosen = first_features(feature_ranks, moved_counts.clamp(max=count))
        return compose(features.element_mask(chosen), moved, kept)

    evaluated = evaluate_variants(scored, build, n_steps)
    original = scored.original.unsqueeze(1).to(evaluated.dtype)
    curve = (torch.cat([original, evaluated], dim=1) if known_end == "first"
             else torch.cat([evaluated, original], dim=1))
    fractions = torch.linspace(0, 1, n_steps + 1, dtype=curve.dtype, device=curve.device)
    return CurveResult(curve, fractions, trapezoid_auc(curve))


@dataclass(frozen=True)
class RankedInputs:
    """Everything a step curve needs: formatted inputs, the score function, the features and
    their ranks (0 = moved first), and the substrate."""

    inputs: Tuple[Tensor, ...]
    scored: Scored
    features: Features
    feature_ranks: Tensor
    substrate: Tuple[Tensor, ...]
    step: int


def rank_inputs(
    forward_func: Any,
    inputs: Any,
    attributions: Any,
    target: Any,
    additional_forward_args: Any,
    feature_mask: Any,
    step: Any,
    substrate: Any,
    softmax: Optional[bool],
    max_examples_per_batch: Optional[int],
    most_relevant_first: bool,
    substrate_name: str = "substrate",
) -> RankedInputs:
    """Validate the common arguments of the step-curve metrics and rank the features by the
    sum of their attributions (descending when ``most_relevant_first``)."""
    call = prepare_call(inputs, target, additional_forward_args)
    attributions_, _ = format_inputs(attributions, "attributions")
    check_same_shapes(attributions_, call.inputs, "attributions", "inputs")
    features = features_of(call.inputs, feature_mask)
    per_step = features_per_step(step, features.count)
    feature_ranks = ranks(features.scores(attributions_), descending=most_relevant_first)
    replacement = resolve_substrate(substrate, call.inputs, call.was_tuple, substrate_name)
    scored = score_function(forward_func, call, softmax,
                            number_of_steps(per_step, features.count), max_examples_per_batch)
    return RankedInputs(call.inputs, scored, features, feature_ranks, replacement, per_step)
