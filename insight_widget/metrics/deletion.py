"""Deletion curve and its AUC (Petsiuk, Das, Saenko, "RISE", BMVC 2018)."""

from __future__ import annotations

from typing import Any, Callable, Optional

from ._curves import CurveResult, progressive_curve, rank_inputs


def deletion(
    forward_func: Callable[..., Any],
    inputs: Any,
    attributions: Any,
    target: Any = None,
    additional_forward_args: Any = None,
    feature_mask: Any = None,
    step: Optional[int] = None,
    substrate: Any = "zeros",
    softmax: Optional[bool] = None,
    max_examples_per_batch: Optional[int] = None,
) -> CurveResult:
    r"""Deletion curve: the score while the most relevant features are removed, ``step`` at a
    time, replaced by ``substrate`` (zeros by default, as in RISE).

    Features are ranked by the sum of their attributions, largest first; at step k the first
    ``k * step`` are replaced, so the curve starts at f(x) and ends at f(substrate). A faithful
    attribution makes the score drop fast: **lower AUC is better**.

    The model runs on ``n_steps x N`` rows in batched ``torch.no_grad()`` passes, where
    n_steps = ceil(G / step) for G features; the unperturbed score is reused, so each example
    costs n_steps + 1 forward rows in total.

    Args:
        forward_func: the model or any callable returning the output tensor.
        inputs: tensor or tuple of tensors, dim 0 = N examples.
        attributions: attributions with the shapes of ``inputs``.
        target: output index per example (Captum's forms). None = each example's predicted
            class when the output holds class scores (N, C), else the output itself.
        additional_forward_args: extra model arguments (tensors repeated per step).
        feature_mask: integer tensor(s) broadcastable to the inputs grouping elements into
            features; None = pixels (all channels of a location) for inputs of 4+ dims
            (N, C, H, W), one feature per element otherwise.
        step: features removed per step; None = ceil(G / 50).
        substrate: replacement values: "zeros", "blur", a number, tensor(s) or a callable.
        softmax: score probabilities (softmax over dim 1) rather than raw outputs; None = when
            the output holds class scores (RISE scores the softmax probability).
        max_examples_per_batch: rows per forward pass; None = sized by the perturbation
            engine within the memory budget.

    Returns:
        :class:`CurveResult` with ``curve`` (N, n_steps + 1), ``fractions`` (n_steps + 1,) and
        ``auc`` (N,).
    """
    ranked = rank_inputs(forward_func, inputs, attributions, target, additional_forward_args,
                         feature_mask, step, substrate, softmax, max_examples_per_batch,
                         most_relevant_first=True)
    return progressive_curve(ranked.scored, ranked.features, ranked.feature_ranks,
                             moved=ranked.substrate, kept=ranked.inputs, step=ranked.step,
                             known_end="first")
