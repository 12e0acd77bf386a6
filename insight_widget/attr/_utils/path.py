"""Straight-line path integrals of gradients (Integrated Gradients and its layer/neuron kin).

For inputs x, baselines x' and a quadrature rule (w_k, alpha_k), k = 1..n:

    IntegratedGrads_i(x) = (x_i - x'_i) * sum_k w_k * dF/dx_i (x' + alpha_k (x - x'))

The n path points of all N examples are stacked step-major into n*N rows (rows k*N..k*N+N-1
hold step k), evaluated in chunks of steps chosen by :class:`ChunkPlanner`, and the weighted
gradient sums of the chunks are added.

Baselines may be tensors (broadcastable to the inputs) or plain numbers; a number is never
materialised as a tensor (a zero baseline makes the path rows ``alpha_k * x``), which saves
kernels on small workloads without changing any value.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from .batching import ChunkPlanner, row_bytes
from .progress import report_progress
from .quadrature import step_sizes_and_alphas, validate_rule
from .validation import check_optional_int

# gradient_fn(path_rows, n_chunk_steps) -> (gradients per row, targeted outputs per row)
GradientFn = Callable[[Tuple[Tensor, ...], int], Tuple[Tuple[Tensor, ...], Tensor]]
PathBaseline = Union[Tensor, int, float]


@lru_cache(maxsize=512)
def _constant(values: Tuple[float, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    """Quadrature nodes or weights as a tensor, built once per (values, dtype, device)."""
    with torch.inference_mode(False):  # a cached inference tensor could not join autograd later
        return torch.tensor(values, dtype=dtype, device=device)


def check_path_arguments(method: str, n_steps: int, internal_batch_size: Optional[int]) -> None:
    """The arguments every path method takes: a quadrature rule ``method`` with ``n_steps``
    nodes (see ``quadrature.validate_rule``) and an optional ``internal_batch_size`` >= 1."""
    validate_rule(method, n_steps)
    check_optional_int("internal_batch_size", internal_batch_size, minimum=1)


def difference(x: Tensor, baseline: PathBaseline) -> Tensor:
    """``x - baseline`` (``x`` itself for a zero number: no kernel, same values)."""
    if not isinstance(baseline, Tensor) and baseline == 0:
        return x
    return x - baseline


def times_difference(values: Sequence[Tensor], inputs: Sequence[Tensor],
                     baselines: Sequence[PathBaseline]) -> Tuple[Tensor, ...]:
    """``v * (x - x')`` per input: the global form of a gradient-like attribution (the "multiply
    by inputs" step of Integrated Gradients, DeepLift, GradientShap and their kin)."""
    return tuple(v * difference(x, b) for v, x, b in zip(values, inputs, baselines))


def path_points(
    inputs: Sequence[Tensor], baselines: Sequence[PathBaseline], alphas: Sequence[float]
) -> Tuple[Tensor, ...]:
    """Rows ``x' + alpha_k (x - x')`` for each alpha, step-major: shape (len(alphas)*N, ...)."""
    points = []
    for x, b in zip(inputs, baselines):
        alpha = _constant(tuple(alphas), x.dtype, x.device).view(-1, *([1] * x.dim()))
        if isinstance(b, Tensor):
            rows = torch.addcmul(b.unsqueeze(0), alpha, (x - b).unsqueeze(0))
        elif b == 0:
            rows = alpha * x.unsqueeze(0)  # 0 + alpha * (x - 0), exactly
        else:
            rows = torch.addcmul(x.new_tensor(float(b)), alpha, (x - b).unsqueeze(0))
        points.append(rows.reshape(len(alphas) * x.shape[0], *x.shape[1:]))
    return tuple(points)


def weighted_step_sum(grads: Tensor, weights: Sequence[float], num_examples: int) -> Tensor:
    """``sum_k weights[k] * grads[k*N:(k+1)*N]`` for step-major rows; shape (N, ...)."""
    steps = len(weights)
    w = _constant(tuple(weights), grads.dtype, grads.device)
    per_step = grads.reshape(steps, num_examples, *grads.shape[1:])  # a view: splits dim 0
    # Gradients of transposed activations (e.g. a Conv1d over embeddings) are not contiguous;
    # ordering the trailing dims by stride usually makes them so, which lets the product
    # below read them in place instead of copying them first.
    if per_step.is_contiguous():  # the common case: no reordering to find
        return torch.matmul(w, per_step.reshape(steps, -1)).reshape(per_step.shape[1:])
    order = sorted(range(1, per_step.dim()), key=lambda d: -per_step.stride(d))
    permuted = per_step.permute(0, *order)
    if not permuted.is_contiguous():
        order, permuted = list(range(1, per_step.dim())), per_step
    # (1 x steps) @ (steps x rest): the product tensordot would form, without its wrapper.
    summed = torch.matmul(w, permuted.reshape(steps, -1)).reshape(permuted.shape[1:])
    inverse = [order.index(d) for d in range(1, per_step.dim())]
    return summed.permute(*inverse)


@dataclass
class PathIntegral:
    """Result of :func:`integrate_gradients`.

    ``gradient_sums[i]``: sum_k w_k grad_i(point_k), shape of input i.
    ``endpoint_outputs``: (F(baselines), F(inputs)) when the rule evaluates alpha = 0 and 1
    (riemann_trapezoid), which lets the convergence delta skip extra forward passes.
    """

    gradient_sums: Tuple[Tensor, ...]
    endpoint_outputs: Optional[Tuple[Tensor, Tensor]]


#: evaluate(path_rows, start, stop) -> (this chunk's partial sums per tensor, targeted outputs
#: per row) for the path points ``alphas[start:stop]``
ChunkFn = Callable[[Tuple[Tensor, ...], int, int], Tuple[Sequence[Tensor], Tensor]]


def walk_path(
    evaluate: ChunkFn,
    inputs: Tuple[Tensor, ...],
    baselines: Tuple[PathBaseline, ...],
    alphas: Sequence[float],
    internal_batch_size: Optional[int],
    rows_per_example: Optional[Tuple[Tensor, ...]] = None,
    overlap: int = 0,
    measure_first: bool = False,
) -> PathIntegral:
    """The one loop over a straight path: chunks of the points ``x' + alpha_k (x - x')``
    (step-major rows, chunked under ``internal_batch_size`` or the memory budget), each
    evaluated by ``evaluate`` into partial sums that are added up; progress is reported per
    chunk. With ``overlap=1`` consecutive chunks share a point (finite differences along the
    path need both ends). ``rows_per_example`` are the tensors whose per-row size feeds the
    memory budget (defaults to ``inputs``). ``measure_first``: without ``internal_batch_size``,
    evaluate one step first and size the other chunks from what it saved for backward (for
    models whose activations per row dwarf their input row, e.g. a language model's logits).
    """
    total = len(alphas)
    num_examples = inputs[0].shape[0]
    planner = ChunkPlanner(total, num_examples, internal_batch_size,
                           row_bytes(rows_per_example or inputs), minimum_items=overlap + 1,
                           overlap=overlap, measure_first=measure_first)
    sums: Optional[list] = None
    first_output = last_output = None
    for start, stop in planner:
        points = path_points(inputs, baselines, alphas[start:stop])
        with planner.measure((stop - start) * num_examples):
            partial, outputs = evaluate(points, start, stop)
        sums = list(partial) if sums is None else [s + p for s, p in zip(sums, partial)]
        if start == 0:
            first_output = outputs[:num_examples] if outputs.dim() > 0 else None
        if stop == total:
            last_output = outputs[-num_examples:] if outputs.dim() > 0 else None
        report_progress(stop, total)
    assert sums is not None
    endpoints = None
    has_ends = alphas[0] == 0.0 and alphas[-1] == 1.0
    if has_ends and first_output is not None and last_output is not None:
        endpoints = (first_output, last_output)
    return PathIntegral(tuple(sums), endpoints)


def integrate_gradients(
    gradient_fn: GradientFn,
    inputs: Tuple[Tensor, ...],
    baselines: Tuple[PathBaseline, ...],
    n_steps: int,
    method: str,
    internal_batch_size: Optional[int],
    rows_per_example: Optional[Tuple[Tensor, ...]] = None,
    measure_first: bool = False,
) -> PathIntegral:
    """Weighted gradient sums along the straight path from ``baselines`` to ``inputs``.

    ``gradient_fn`` receives the path rows of one chunk of steps (and the number of steps in
    it) and returns the gradients per row plus the targeted outputs; each chunk contributes
    ``sum_k w_k grad(point_k)`` over its steps (see :func:`walk_path`, also for
    ``measure_first``).
    """
    step_sizes, alphas = step_sizes_and_alphas(method, n_steps)
    num_examples = inputs[0].shape[0]

    def evaluate(points: Tuple[Tensor, ...], start: int, stop: int):
        grads, outputs = gradient_fn(points, stop - start)
        return [weighted_step_sum(g, step_sizes[start:stop], num_examples) for g in grads], outputs

    return walk_path(evaluate, inputs, baselines, alphas, internal_batch_size, rows_per_example,
                     measure_first=measure_first)
