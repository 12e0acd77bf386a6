"""Monotonicity (Arya et al., "One Explanation Does Not Fit All", 2019)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from torch import Tensor

from ._curves import progressive_curve, rank_inputs


@dataclass(frozen=True)
class MonotonicityResult:
    """Scores while features are added to the baseline, least relevant first.

    Attributes:
        curve: (N, n_steps + 1) scores, from f(baseline) to f(x).
        fractions: (n_steps + 1,) fraction of the steps done, k / n_steps.
        monotonic: (N,) bool, True when the curve never decreases.
        nondecreasing_fraction: (N,) fraction of the n_steps steps that do not decrease the
            score (1.0 for a monotonic curve).
    """

    curve: Tensor
    fractions: Tensor
    monotonic: Tensor
    nondecreasing_fraction: Tensor


def monotonicity(
    forward_func: Callable[..., Any],
    inputs: Any,
    attributions: Any,
    baselines: Any = None,
    target: Any = None,
    additional_forward_args: Any = None,
    feature_mask: Any = None,
    step: Optional[int] = None,
    softmax: Optional[bool] = False,
    max_examples_per_batch: Optional[int] = None,
) -> MonotonicityResult:
    r"""Start from the baseline and add the input's features ``step`` at a time in order of
    increasing attribution (least relevant first); a faithful attribution makes the score rise
    with every step: :math:`f(x^{(k+1)}) \ge f(x^{(k)})`.

    Arguments are those of :func:`insight_widget.metrics.deletion`, with ``baselines`` (any of
    Captum's baseline forms, default zeros) as the starting point and ``softmax`` off by
    default (the raw output at ``target`` is scored). Each example costs n_steps + 1 forward
    rows in batched ``torch.no_grad()`` passes.

    Returns:
        :class:`MonotonicityResult`.
    """
    ranked = rank_inputs(forward_func, inputs, attributions, target, additional_forward_args,
                         feature_mask, step, 0 if baselines is None else baselines, softmax,
                         max_examples_per_batch, most_relevant_first=False,
                         substrate_name="baselines")
    result = progressive_curve(ranked.scored, ranked.features, ranked.feature_ranks,
                               moved=ranked.inputs, kept=ranked.substrate, step=ranked.step,
                               known_end="last")
    rises = result.curve[:, 1:] >= result.curve[:, :-1]
    return MonotonicityResult(result.curve, result.fractions, rises.all(dim=1),
                              rises.to(result.curve.dtype).mean(dim=1))
