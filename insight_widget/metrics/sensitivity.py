"""Max-sensitivity of explanations (Yeh et al., NeurIPS 2019), Captum-compatible."""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Tuple, Union

import torch
from torch import Tensor

from ..attr.core import (
    check_callable,
    check_number,
    describe,
    format_inputs,
    is_number,
    report_progress,
    restore_format,
)
from ._batches import plan_chunks
from ._samples import accepts_second_argument, expand_explanation_kwargs, repeat_examples
from ._shapes import flatten_examples

TensorOrTuple = Union[Tensor, Tuple[Tensor, ...]]


def default_perturb_func(inputs: TensorOrTuple, perturb_radius: float = 0.02
                         ) -> Tuple[Tensor, ...]:
    """Inputs plus noise drawn uniformly from the L-infinity ball of radius ``perturb_radius``.

    The noise of each input tensor is drawn in turn, in float32 on the CPU (then cast to the
    input's dtype and device), exactly as Captum draws it, so seeded runs agree with Captum.

    Returns:
        Tuple of perturbed input tensors (a tuple even for a single tensor, as Captum).
    """
    formatted, _ = format_inputs(inputs)
    radius = check_number("perturb_radius", perturb_radius, minimum=0)
    perturbed = []
    for x in formatted:
        noise = torch.empty(x.shape, dtype=torch.float32).uniform_(-radius, radius)
        perturbed.append(x + noise.to(device=x.device, dtype=x.dtype))
    return tuple(perturbed)


def sensitivity_max(
    explanation_func: Callable[..., TensorOrTuple],
    inputs: TensorOrTuple,
    perturb_func: Callable[..., TensorOrTuple] = default_perturb_func,
    perturb_radius: float = 0.02,
    n_perturb_samples: int = 10,
    norm_ord: str = "fro",
    max_examples_per_batch: Optional[int] = None,
    **kwargs: Any,
) -> Tensor:
    r"""Maximum relative change of an explanation under small input perturbations:

    .. math::
        SENS_{MAX}(\Phi, x) = \max_{k} \frac{\lVert \Phi(x + \delta_k) - \Phi(x) \rVert}
        {\lVert \Phi(x) \rVert}

    over ``n_perturb_samples`` perturbations :math:`\delta_k` drawn by ``perturb_func`` (by
    default uniformly from the L-infinity ball of radius ``perturb_radius``). Norms are taken
    over all values of an example across every input tensor; an explanation of norm 0 is not
    normalised (denominator 1), as in Captum.

    Same signature, defaults, call order and numbers as ``captum.metrics.sensitivity_max``:
    ``explanation_func(inputs, **kwargs)`` first, then per chunk of k samples ``perturb_func``
    on the examples repeated example-major and ``explanation_func`` on the result, with
    ``baselines``, ``target`` and ``additional_forward_args`` in ``kwargs`` repeated to match.
    Differences: ``explanation_func`` receives the inputs in the form the caller passed (Captum
    passes a tuple the first time) and may return a tensor or a tuple; ``norm_ord="nuc"`` (which
    needs a matrix) raises a clear error.

    Args:
        explanation_func: e.g. the ``attribute`` method of an attribution algorithm.
        inputs: tensor or tuple of tensors, dim 0 = N examples.
        perturb_func: ``perturb_func(inputs[, perturb_radius]) -> perturbed inputs`` (the radius
            is passed when the function takes a second positional argument).
        perturb_radius: radius of the perturbation ball.
        n_perturb_samples: perturbations per example.
        norm_ord: ``"fro"`` (2-norm of the flattened explanation) or a number p for the p-norm
            (``inf`` and ``-inf`` included).
        max_examples_per_batch: perturbed examples per ``explanation_func`` call; None = all.
        **kwargs: passed to ``explanation_func`` (e.g. ``target``, ``baselines``).

    Returns:
        Tensor of shape (N,): the max-sensitivity of each example.
    """
    check_callable("explanation_func", explanation_func)
    check_callable("perturb_func", perturb_func)
    formatted, was_tuple = format_inputs(inputs)
    _check_norm_ord(norm_ord)
    n = formatted[0].shape[0]
    plan = plan_chunks(n_perturb_samples, n, max_examples_per_batch)
    pass_radius = accepts_second_argument(perturb_func)

    original = _explanation_rows(explanation_func(inputs, **kwargs), n, "explanation_func")
    original_norm = _row_norms(original, norm_ord)
    original_norm = torch.where(original_norm == 0, torch.ones_like(original_norm), original_norm)
    maxima: Optional[Tensor] = None
    for start, stop in plan:
        k = stop - start
        given = restore_format(repeat_examples(formatted, k), was_tuple)
        perturbed = (perturb_func(given, perturb_radius) if pass_radius else perturb_func(given))
        perturbed_, _ = format_inputs(perturbed, "perturbed inputs")
        explanation = _explanation_rows(
            explanation_func(restore_format(perturbed_, was_tuple),
                             **expand_explanation_kwargs(kwargs, n, k)),
            n * k, "explanation_func")
        if explanation.shape[1] != original.shape[1]:
            raise ValueError(
                "`explanation_func` returned explanations of different sizes for the perturbed "
                f"inputs ({explanation.shape[1]} values per example) and the inputs "
                f"({original.shape[1]})."
            )
        difference = explanation - original.repeat_interleave(k, dim=0)
        ratio = (_row_norms(difference, norm_ord).reshape(n, k)
                 / original_norm.unsqueeze(1)).amax(dim=1)
        maxima = ratio if maxima is None else torch.maximum(maxima, ratio)
        report_progress(stop, plan.n_items)
    assert maxima is not None
    return maxima


def _explanation_rows(explanation: Any, rows: int, name: str) -> Tensor:
    """An explanation (tensor or tuple) as one flattened row per example, shape (rows, D)."""
    formatted, _ = format_inputs(explanation, f"the result of `{name}`")
    if formatted[0].shape[0] != rows:
        raise ValueError(
            f"`{name}` must return one explanation per example ({rows}); got tensors of shapes "
            f"{[tuple(t.shape) for t in formatted]}."
        )
    return flatten_examples([t.detach() for t in formatted], rows)


def _row_norms(rows: Tensor, norm_ord: Any) -> Tensor:
    return torch.norm(rows, p=norm_ord, dim=1)


def _check_norm_ord(norm_ord: Any) -> None:
    if norm_ord == "fro" or (is_number(norm_ord) and not math.isnan(norm_ord)):
        return
    hint = (" (the nuclear norm needs a matrix; explanations are compared as vectors)"
            if norm_ord == "nuc" else "")
    raise ValueError(
        f"`norm_ord` must be 'fro' or a number (p of the p-norm, inf allowed){hint}; got "
        f"{describe(norm_ord)}."
    )
