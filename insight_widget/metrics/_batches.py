"""Batched, gradient-free model evaluation for the perturbation metrics.

Every metric here evaluates the model on many modified copies (*variants*) of the N examples:
perturbation samples, deletion/insertion steps, random subsets.

* :func:`plan_chunks` (infidelity, sensitivity_max): Captum's chunking of perturbation
  samples, ``max(1, max_examples_per_batch // N)`` samples per pass with a warning when the
  value is below N; None = all at once unless the memory budget
  (``insight_widget.attr.set_memory_budget``) says they do not fit. The chunks fix the order
  of ``perturb_func`` calls, hence the random stream.
* :func:`score_function` / :func:`evaluate_variants` (deletion, insertion, monotonicity,
  faithfulness): the engine's perturbation evaluator (``attr.core``) runs the
  variant-major rows under ``torch.no_grad()``, several variants per pass, and the raw outputs
  become one score per example (optional softmax, target).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from ..attr.core import (
    ChunkPlanner,
    EvaluationPlan,
    PreparedCall,
    RowEvaluator,
    Target,
    check_bool,
    check_int,
    check_optional_int,
    evaluate_perturbations,
    get_memory_budget,
    input_evaluator,
    items_per_chunk,
    plan_evaluation,
    row_bytes,
)
from ._shapes import one_value_per_row

# No-grad forwards keep the input, the largest activation and the next one alive at once.
_LIVE_ACTIVATIONS = 3


def plan_chunks(
    n_items: int,
    num_examples: int,
    max_examples_per_batch: Optional[int],
    activation_row_bytes: int = 0,
    items_argument: str = "n_perturb_samples",
) -> ChunkPlanner:
    """Plan ``range(n_items)`` variants in chunks of k variants (k x N rows per pass).

    ``activation_row_bytes`` (largest per-row activation of the model, measured on the
    unperturbed forward) sizes the chunks when ``max_examples_per_batch`` is None: everything in
    one chunk (Captum's behaviour) when it fits the memory budget, else as many as fit.
    """
    n = check_int(items_argument, n_items, minimum=1)
    size = check_optional_int("max_examples_per_batch", max_examples_per_batch, minimum=1)
    if size is None:
        rows = n * num_examples
        if activation_row_bytes > 0:
            fitting = get_memory_budget() // (_LIVE_ACTIVATIONS * activation_row_bytes)
            rows = max(num_examples, min(rows, fitting))
        size = rows
    return ChunkPlanner(n, num_examples, internal_batch_size=size,
                        argument="max_examples_per_batch")


def needs_measurement(inputs: Tuple[Tensor, ...], n_items: int,
                      max_examples_per_batch: Optional[int]) -> bool:
    """Whether :func:`plan_chunks` needs the measured activation size: only when no
    ``max_examples_per_batch`` is given and the planner's input-size guess does not already
    put all ``n_items x N`` rows in one pass."""
    if max_examples_per_batch is not None:
        return False
    n = inputs[0].shape[0]
    guess = ChunkPlanner(n_items, n, input_row_bytes=row_bytes(inputs))
    return guess.chunk_items < n_items


@dataclass(frozen=True)
class Scored:
    """How the step/subset metrics score their variants, set up by :func:`score_function`.

    ``plan``: the perturbation engine's evaluation plan (its ``output`` is the unperturbed raw
    output); ``target`` and ``softmax``: how a raw output becomes one score per example;
    ``original``: the unperturbed scores, shape (N,).
    """

    evaluate: RowEvaluator
    plan: EvaluationPlan
    target: Target
    softmax: bool
    original: Tensor

    @property
    def num_examples(self) -> int:
        return self.plan.num_examples

    def scores(self, output: Tensor, copies: int) -> Tensor:
        """One score per row of a raw output of ``copies x N`` rows, shape (copies * N,)."""
        return _scores(output, copies, self.target, self.softmax, self.num_examples)


def _scores(output: Tensor, copies: int, target: Target, softmax: bool, n: int) -> Tensor:
    transformed = output.softmax(dim=1) if softmax else output
    return one_value_per_row(target.repeat(copies).select(transformed), copies * n,
                             "forward_func")


def score_function(
    forward_func: Callable[..., Any],
    call: PreparedCall,
    softmax: Optional[bool],
    n_variants: int,
    max_examples_per_batch: Optional[int],
    predicted_class_by_default: bool = True,
) -> Scored:
    """Evaluate the unperturbed inputs once (through the perturbation engine, which also sizes
    the passes) and fix how outputs become scores.

    ``softmax=None`` applies the softmax when the output holds class logits (2-D, at least two
    columns). With ``target=None`` and such an output, the target is each example's predicted
    class when ``predicted_class_by_default`` (RISE's convention); otherwise ``target=None``
    keeps Captum's meaning (the output already has one value per example).
    ``max_examples_per_batch`` fixes the rows per pass (``max(1, value // N)`` variants, with a
    warning below N); None lets the engine fit the passes to the memory budget.
    """
    if softmax is not None:
        check_bool("softmax", softmax)
    n = call.num_examples
    evaluate = input_evaluator(forward_func, Target("none"), call.args)
    plan = plan_evaluation(evaluate, call.inputs, n_variants, 1, forward_func,
                           argument="max_examples_per_batch")
    output = plan.output
    if not plan.per_example:
        raise ValueError(
            f"`forward_func` must return one output row per example ({n}); got an output of "
            f"shape {tuple(output.shape)}."
        )
    size = check_optional_int("max_examples_per_batch", max_examples_per_batch, minimum=1)
    if size is not None:
        plan.copies = min(n_variants, items_per_chunk(size, n, "max_examples_per_batch"))
        plan.auto = False
    classes = output.dim() == 2 and output.shape[1] > 1
    use_softmax = classes if softmax is None else softmax
    if use_softmax and output.dim() < 2:
        raise ValueError(
            "`softmax=True` needs a model output with a class dimension (N, C); got shape "
            f"{tuple(output.shape)}."
        )
    target = call.target
    if target.kind == "none" and classes and predicted_class_by_default:
        target = Target("per_example_index", output.argmax(dim=1))
    return Scored(evaluate, plan, target, use_softmax,
                  _scores(output, 1, target, use_softmax, n))


def evaluate_variants(
    scored: Scored,
    build: Callable[[int, int], Tuple[Tensor, ...]],
    n_variants: int,
) -> Tensor:
    """Scores of ``n_variants`` variants of every example, shape (N, n_variants).

    ``build(start, stop)`` returns the variant-major rows of variants ``start..stop-1``; the
    engine evaluates them without gradients, several variants per pass, reporting progress.
    """
    n = scored.num_examples
    shape = scored.plan.output.shape[1:]
    scores = torch.empty(n_variants, n, dtype=scored.original.dtype,
                         device=scored.original.device)

    def consume(start: int, stop: int, outputs: Tensor) -> None:
        copies = stop - start
        rows = outputs.reshape(copies * n, *shape)
        scores[start:stop] = scored.scores(rows, copies).reshape(copies, n)

    evaluate_perturbations(scored.evaluate, scored.plan, n_variants, build, consume)
    return scores.transpose(0, 1)
