"""Batched, gradient-free model evaluation for the perturbation metrics.

Every metric here evaluates the model on many modified copies (*variants*) of the N examples:
perturbation samples, deletion/insertion steps, random subsets. :func:`plan_chunks` decides how
many variants go into one forward pass and :class:`ScoreFunction` evaluates a chunk of
variant-major rows under ``torch.no_grad()``, returning one score per row.

Chunking: with ``max_examples_per_batch`` (rows per pass) it follows Captum's rule,
``max(1, max_examples_per_batch // N)`` variants per pass with a warning when the value is
below N; otherwise everything goes in one pass when it fits the memory budget
(``insight_widget.attr.set_memory_budget``), measured from the largest activation of the
unperturbed forward, and in as many passes as needed when it does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from ..attr._utils.batching import ActivationMeter, ChunkPlanner, get_memory_budget
from ..attr._utils.forward import as_output_tensor, module_of, run_forward
from ..attr._utils.inputs import expand_additional_forward_args
from ..attr._utils.prepare import PreparedCall
from ..attr._utils.progress import report_progress
from ..attr._utils.target import Target
from ..attr._utils.validation import check_bool, check_int, check_optional_int
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


@dataclass(frozen=True)
class ScoreFunction:
    """The model output a metric follows: ``forward_func``'s output, optionally turned into
    class probabilities (softmax over dim 1), at ``target``, one value per example."""

    forward_func: Callable[..., Any]
    target: Target
    softmax: bool
    args: Optional[Tuple[Any, ...]]
    num_examples: int

    def _model(self, *arguments: Any) -> Tensor:
        output = as_output_tensor(self.forward_func(*arguments))
        return output.softmax(dim=1) if self.softmax else output

    def __call__(self, rows: Tuple[Tensor, ...], variants: int) -> Tensor:
        """Scores of ``variants x N`` variant-major rows, shape (variants, N)."""
        with torch.no_grad():
            selected = run_forward(self._model, rows, self.target.repeat(variants),
                                   expand_additional_forward_args(self.args, variants))
        count = variants * self.num_examples
        return one_value_per_row(selected, count, "forward_func").reshape(variants,
                                                                           self.num_examples)


@dataclass(frozen=True)
class Scored:
    """A :class:`ScoreFunction`, the unperturbed scores (N,) and the measured activation size."""

    score: ScoreFunction
    original: Tensor
    activation_row_bytes: int


def score_function(
    forward_func: Callable[..., Any],
    call: PreparedCall,
    softmax: Optional[bool],
    predicted_class_by_default: bool = True,
) -> Scored:
    """Evaluate the unperturbed inputs once and fix how outputs become scores.

    ``softmax=None`` applies the softmax when the output holds class logits (2-D, at least two
    columns). With ``target=None`` and such an output, the target is each example's predicted
    class when ``predicted_class_by_default`` (RISE's convention); otherwise ``target=None``
    keeps Captum's meaning (the output already has one value per example).
    """
    if softmax is not None:
        check_bool("softmax", softmax)
    n = call.num_examples
    with torch.no_grad(), ActivationMeter(module_of(forward_func), n) as meter:
        output = run_forward(forward_func, call.inputs, None, call.args)
    classes = output.dim() == 2 and output.shape[0] == n and output.shape[1] > 1
    use_softmax = classes if softmax is None else softmax
    if use_softmax and output.dim() < 2:
        raise ValueError(
            "`softmax=True` needs a model output with a class dimension (N, C); got shape "
            f"{tuple(output.shape)}."
        )
    target = call.target
    if target.kind == "none" and classes and predicted_class_by_default:
        target = Target("per_example_index", output.argmax(dim=1))
    transformed = output.softmax(dim=1) if use_softmax else output
    original = one_value_per_row(target.select(transformed), n, "forward_func")
    score = ScoreFunction(forward_func, target, use_softmax, call.args, n)
    return Scored(score, original, meter.largest_row_bytes)


def evaluate_variants(
    scored: Scored,
    build: Callable[[int, int], Tuple[Tensor, ...]],
    n_variants: int,
    max_examples_per_batch: Optional[int],
    items_argument: str,
) -> Tensor:
    """Scores of ``n_variants`` variants of every example, shape (N, n_variants).

    ``build(start, stop)`` returns the variant-major rows of variants ``start..stop-1``.
    """
    n = scored.score.num_examples
    plan = plan_chunks(n_variants, n, max_examples_per_batch, scored.activation_row_bytes,
                       items_argument)
    chunks = []
    for start, stop in plan:
        with torch.no_grad():
            chunks.append(scored.score(build(start, stop), stop - start))
        report_progress(stop, n_variants)
    return torch.cat(chunks, dim=0).transpose(0, 1)
