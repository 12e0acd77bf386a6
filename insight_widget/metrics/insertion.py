"""Insertion curve and its AUC (Petsiuk, Das, Saenko, "RISE", BMVC 2018)."""

from __future__ import annotations

from typing import Any, Callable, Optional

from ._curves import CurveResult, progressive_curve, rank_inputs


def insertion(
    forward_func: Callable[..., Any],
    inputs: Any,
    attributions: Any,
    target: Any = None,
    additional_forward_args: Any = None,
    feature_mask: Any = None,
    step: Optional[int] = None,
    substrate: Any = "blur",
    softmax: Optional[bool] = None,
    max_examples_per_batch: Optional[int] = None,
) -> CurveResult:
    r"""Insertion curve: the score while the most relevant features are copied, ``step`` at a
    time, from the input into ``substrate`` (a blurred copy of the input by default, as in
    RISE: Gaussian kernel 11 x 11, sigma 5; images (N, C, H, W) only).

    The curve starts at f(substrate) and ends at f(x). A faithful attribution makes the score
    rise fast: **higher AUC is better**. Each example costs n_steps + 1 forward rows
    (n_steps = ceil(G / step)), evaluated in batched ``torch.no_grad()`` passes, the final
    (unperturbed) score being reused.

    Arguments are those of :func:`insight_widget.metrics.deletion`; ``substrate`` defaults to
    ``"blur"`` (use ``"zeros"``, a number, tensor(s) or a callable for other inputs).

    Returns:
        :class:`CurveResult` with ``curve`` (N, n_steps + 1), ``fractions`` (n_steps + 1,) and
        ``auc`` (N,).
    """
    ranked = rank_inputs(forward_func, inputs, attributions, target, additional_forward_args,
                         feature_mask, step, substrate, softmax, max_examples_per_batch,
                         most_relevant_first=True)
    return progressive_curve(ranked.scored, ranked.features, ranked.feature_ranks,
                             moved=ranked.inputs, kept=ranked.substrate, step=ranked.step,
                             known_end="last")
