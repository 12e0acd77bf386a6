"""Explanation infidelity (Yeh et al., "On the (In)fidelity and Sensitivity of Explanations",
NeurIPS 2019), Captum-compatible."""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Tuple, Union

import torch
from torch import Tensor

from ..attr.core import (
    ActivationMeter,
    PreparedCall,
    check_bool,
    check_callable,
    describe,
    expand_additional_forward_args,
    format_baselines,
    format_inputs,
    module_of,
    prepare_call,
    report_progress,
    restore_format,
    run_forward,
)
from ._batches import needs_measurement, plan_chunks
from ._samples import accepts_second_argument, expand_per_example, repeat_examples
from ._shapes import check_same_shapes, one_value_per_row

TensorOrTuple = Union[Tensor, Tuple[Tensor, ...]]


def infidelity_perturb_func_decorator(
    multiply_by_inputs: bool = True,
) -> Callable[[Callable[..., TensorOrTuple]], Callable[..., Tuple[Tuple[Tensor, ...],
                                                                   Tuple[Tensor, ...]]]]:
    r"""Turn a ``perturb_func`` that returns only perturbed inputs into one that returns
    ``(perturbations, perturbed_inputs)`` as :func:`infidelity` expects.

    The perturbation is :math:`I = x - \tilde x` for local attributions
    (``multiply_by_inputs=False``) and :math:`I = (x - \tilde x) / (x - x')` for global ones,
    where :math:`x'` is the baseline (0 when none is given). Where :math:`x = x'` the division
    is skipped (the denominator is taken as 1), as in Captum.

    The decorated function takes ``(inputs, baselines=None)`` and returns two tuples of tensors.
    """
    check_bool("multiply_by_inputs", multiply_by_inputs)

    def decorator(perturb_func: Callable[..., TensorOrTuple]):
        check_callable("perturb_func", perturb_func)

        @functools.wraps(perturb_func)
        def wrapped(inputs: TensorOrTuple, baselines: Any = None
                    ) -> Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]:
            perturbed = (perturb_func(inputs) if baselines is None
                         else perturb_func(inputs, baselines))
            inputs_, _ = format_inputs(inputs)
            perturbed_, _ = format_inputs(perturbed, "perturbed inputs")
            check_same_shapes(perturbed_, inputs_, "perturbed inputs", "inputs")
            differences = tuple(x - p for x, p in zip(inputs_, perturbed_))
            if not multiply_by_inputs:
                return differences, perturbed_
            baselines_ = format_baselines(baselines, inputs_) if baselines is not None else None
            scaled = []
            for index, (difference, x) in enumerate(zip(differences, inputs_)):
                baseline = 0 if baselines_ is None else baselines_[index]
                span = x - baseline
                scaled.append(difference / torch.where(span == 0, torch.ones_like(span), span))
            return tuple(scaled), perturbed_

        return wrapped

    return decorator


def infidelity(
    forward_func: Callable[..., Tensor],
    perturb_func: Callable[..., Tuple[TensorOrTuple, TensorOrTuple]],
    inputs: TensorOrTuple,
    attributions: TensorOrTuple,
    baselines: Any = None,
    additional_forward_args: Optional[Any] = None,
    target: Any = None,
    n_perturb_samples: int = 10,
    max_examples_per_batch: Optional[int] = None,
    normalize: bool = False,
) -> Tensor:
    r"""Infidelity of attributions :math:`\Phi(f, x)` under random input perturbations I:

    .. math::
        INFD(\Phi, f, x) = \mathbb{E}_{I \sim \mu_I}
        \big[(I^T \Phi(f, x) - (f(x) - f(x - I)))^2\big]

    estimated with ``n_perturb_samples`` draws of ``perturb_func`` per example. With
    ``normalize=True`` the attributions are first scaled by the optimal
    :math:`\beta = \mathbb{E}[I^T\Phi\,(f(x) - f(x - I))] / \mathbb{E}[(I^T\Phi)^2]`
    (:math:`\beta = 0` when the denominator vanishes), which makes the score invariant to the
    attributions' scale.

    Same signature, defaults and numbers as ``captum.metrics.infidelity``: ``perturb_func``
    receives the examples repeated example-major (k copies of each of the N examples per chunk,
    k = ``max_examples_per_batch // N``), and ``(inputs, baselines)`` when baselines are given,
    so a seeded run draws the same perturbations as Captum. Unlike Captum, the perturbed
    forwards run under ``torch.no_grad()``, the unperturbed output is computed once (not once
    per chunk), a ``perturb_func`` taking one argument also works with baselines, and
    perturbations broadcastable to the input rows are accepted.

    Args:
        forward_func: the model or any callable returning the output tensor.
        perturb_func: ``perturb_func(inputs[, baselines]) -> (perturbations, perturbed_inputs)``
            (tensors, or tuples with one tensor per input); see
            :func:`infidelity_perturb_func_decorator` for functions returning only the
            perturbed inputs.
        inputs: tensor or tuple of tensors, dim 0 = N examples.
        attributions: attributions with the shapes of ``inputs``.
        baselines: passed to ``perturb_func`` (per-example tensors repeated like the inputs).
        additional_forward_args: extra model arguments (tensors repeated per sample).
        target: output index per example (Captum's forms).
        n_perturb_samples: perturbations per example.
        max_examples_per_batch: rows (perturbed examples) per forward pass; None = all at once
            when they fit the memory budget.
        normalize: scale the attributions by the optimal beta first.

    Returns:
        Tensor of shape (N,): the infidelity of each example.
    """
    check_callable("forward_func", forward_func)
    check_callable("perturb_func", perturb_func)
    check_bool("normalize", normalize)
    call = prepare_call(inputs, target, additional_forward_args)
    attributions_, _ = format_inputs(attributions, "attributions")
    check_same_shapes(attributions_, call.inputs, "attributions", "inputs")
    if baselines is not None:
        format_baselines(baselines, call.inputs)  # validate early, pass the caller's form on
    n = call.num_examples
    flat_attributions = tuple(a.reshape(n, 1, -1) for a in attributions_)
    pass_baselines = baselines is not None and accepts_second_argument(perturb_func)

    with torch.no_grad():
        # The unperturbed output once (Captum evaluates it again for every chunk); measured
        # only when the planner needs the activation size.
        measure = needs_measurement(call.inputs, n_perturb_samples, max_examples_per_batch)
        with ActivationMeter(module_of(forward_func) if measure else None, n) as meter:
            original = _forward(forward_func, call, call.inputs, 1)
        plan = plan_chunks(n_perturb_samples, n, max_examples_per_batch,
                           meter.largest_row_bytes)
        dots, drops = [], []
        for start, stop in plan:
            k = stop - start
            repeated = repeat_examples(call.inputs, k)
            given = restore_format(repeated, call.was_tuple)
            returned = (perturb_func(given, expand_per_example(baselines, n, k))
                        if pass_baselines else perturb_func(given))
            perturbations, perturbed = _split_perturbation(returned, repeated)
            outputs = _forward(forward_func, call, perturbed, k).reshape(n, k)
            dot = sum((p.reshape(n, k, -1) * a).sum(-1)
                      for p, a in zip(perturbations, flat_attributions))
            dots.append(dot)
            drops.append(original.unsqueeze(1) - outputs)
            report_progress(stop, plan.n_items)
    dot = torch.cat(dots, dim=1)
    drop = torch.cat(drops, dim=1)
    if normalize:
        numerator = (dot * drop).mean(dim=1)
        denominator = (dot * dot).mean(dim=1)
        safe = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
        beta = torch.where(denominator == 0, torch.zeros_like(numerator), numerator / safe)
        dot = dot * beta.unsqueeze(1)
    return ((dot - drop) ** 2).mean(dim=1)


def _forward(forward_func: Callable[..., Tensor], call: PreparedCall,
             rows: Tuple[Tensor, ...], copies: int) -> Tensor:
    """Targeted outputs of ``copies`` example-major copies of every example, shape (rows,)."""
    output = run_forward(forward_func, rows, call.target.repeat_interleave(copies),
                         expand_additional_forward_args(call.args, copies, "repeat_interleave"))
    return one_value_per_row(output, call.num_examples * copies, "forward_func")


def _split_perturbation(returned: Any, rows: Tuple[Tensor, ...]
                        ) -> Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]:
    """``(perturbations, perturbed_inputs)`` from a ``perturb_func`` result, as tuples, with the
    perturbations broadcast to the rows' shapes."""
    if not (isinstance(returned, tuple) and len(returned) == 2):
        raise TypeError(
            "`perturb_func` must return a pair (perturbations, perturbed_inputs); got "
            f"{describe(returned)}. Decorate a function that returns only perturbed inputs with "
            "infidelity_perturb_func_decorator."
        )
    perturbations, _ = format_inputs(returned[0], "perturbations")
    perturbed, _ = format_inputs(returned[1], "perturbed inputs")
    check_same_shapes(perturbed, rows, "perturbed inputs", "inputs repeated per sample")
    if len(perturbations) != len(rows):
        raise ValueError(
            f"`perturb_func` must return one perturbation per input ({len(rows)}); got "
            f"{len(perturbations)}."
        )
    broadcast = []
    for index, (perturbation, row) in enumerate(zip(perturbations, rows)):
        try:
            broadcast.append(perturbation.expand_as(row))
        except RuntimeError:
            raise ValueError(
                f"perturbations[{index}] returned by `perturb_func` must be broadcastable to the "
                f"repeated input shape {tuple(row.shape)}; got shape {tuple(perturbation.shape)}."
            ) from None
    return tuple(broadcast), perturbed
