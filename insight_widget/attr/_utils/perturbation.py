"""The perturbation engine: evaluate many perturbed copies of a batch, several per forward pass.

Every perturbation method (FeatureAblation, FeaturePermutation, Occlusion, Shapley values,
LIME, Kernel SHAP, and the layer/neuron variants) reduces to: build K perturbed copies of the
*values* being perturbed (the inputs, or a layer's activations), run the model on them, and
combine the outputs. This module does the running, once, for all of them.

Vocabulary
----------
* ``values``: tuple of tensors with dimension 0 = N examples (inputs or layer activations).
* a *perturbation*: one modified copy of all N examples; perturbation k of a batch of K is a
  tuple shaped like ``values``.
* *rows*: perturbations stacked copy-major along dim 0: rows ``k*N .. k*N+N-1`` hold copy k.

Contract of the pluggable evaluator (:data:`RowEvaluator`)
---------------------------------------------------------
``evaluate(rows, copies) -> Tensor``: run the model on ``rows`` (``copies`` stacked copies
of the N examples, each tensor of shape ``(copies*N, *value.shape[1:])``) and return the
*targeted* output (target selected per row, so a per-example target must be repeated
``copies`` times; additional forward arguments likewise). :func:`input_evaluator` builds it
for model inputs; a layer method builds one that runs the model on the original inputs
(repeated ``copies`` times) with a forward hook replacing the layer's output by ``rows``.
The engine calls it under ``torch.no_grad()``; it must not keep references to ``rows``.
For ``attribute_future`` it returns a :class:`~.forward.PendingOutput` instead: the engine then
starts every chunk's evaluation before waiting for the first (the model works on all at once).

The output is either *per example* (dim 0 has N entries per copy: shape ``(copies*N, ...)``)
or *aggregated* (any shape that does not grow with the batch, e.g. a scalar loss); aggregated
outputs are always evaluated one copy per call.

Batching (deliberate difference from Captum; it changes batching, never results)
-------------------------------------------------------------------------------
``perturbations_per_eval > 1`` keeps Captum's meaning: at most that many copies per call
(fewer only when the memory budget does not hold them). Left at its default 1, it packs
copies per call within the memory budget (``batching.get_memory_budget``): it starts with
as many as keep the largest activation of a call within ``CACHE_BYTES_TARGET`` (sized from
the activations measured with :class:`ActivationMeter` on the unperturbed forward it runs
anyway) and doubles them while the measured time per copy keeps falling
(:class:`CopiesSearch`): small models gain from stacking, compute-bound ones run fastest
per row in cache-sized calls. It falls back to one
copy per call when the output is aggregated, when stacking could change results (a module
in training mode that mixes rows or draws random numbers, or a plain function whose rows we
cannot vouch for), or when a stacked call turns out not to grow with the batch (those
copies are then re-evaluated one by one).

Functions
---------
* :func:`plan_evaluation`: run the unperturbed forward once (measuring activations), decide
  the copies per call -> :class:`EvaluationPlan` (holding the unperturbed output).
* :func:`evaluate_perturbations`: evaluate perturbations ``0..K-1`` in chunks: ``build(start,
  stop)`` returns their rows, ``consume(start, stop, outputs)`` receives the outputs reshaped
  to ``(stop-start, n_out)``; progress is reported after each chunk (cancellable).
* :func:`ablation_attributions`: the whole of feature ablation over feature groups (also
  permutation via ``perturb``), returning attributions per element: what FeatureAblation,
  FeaturePermutation, LayerFeatureAblation, LayerFeaturePermutation and
  NeuronFeatureAblation share.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .batching import (
    ActivationMeter,
    ChunkPlanner,
    CopiesSearch,
    get_memory_budget,
    row_bytes,
)
from .feature_mask import FeatureMasks, spread_to_elements
from .forward import PendingOutput, module_of, run_forward
from .incremental import IncrementalRows
from .incremental import enabled as incremental_enabled
from .inputs import expand_additional_forward_args
from .layout import RowLayout
from .progress import report_partial, report_progress
from .target import Target
from .validation import check_int

RowEvaluator = Callable[[Tuple[Tensor, ...], int], Tensor]
BuildRows = Callable[[int, int], Tuple[Tensor, ...]]
ConsumeOutputs = Callable[[int, int, Tensor], None]
# perturb(input_index, value, selected) -> perturbed copy of value (a custom group perturbation,
# e.g. FeaturePermutation's perm_func); ``selected`` is a bool mask broadcastable to value.
GroupPerturbation = Callable[[int, Tensor, Tensor], Tensor]

# Modules whose training-mode forward mixes rows of a batch or draws random numbers: stacking
# perturbed copies through them would change results.
_BATCH_DEPENDENT = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd,
                    nn.AlphaDropout, nn.FeatureAlphaDropout, nn.RReLU)
# Live memory of one perturbed row during a forward without autograd: a few activations at
# once (a layer's input and output, a residual branch's shortcut, an activation's temporary),
# as multiples of the largest per-row activation, plus the perturbed row and its copy in the
# model's input. 4 keeps measured peaks within the budget (64 MiB budget: 66 MiB peak with
# 7.6 MiB used by one copy per pass; benchmarks/cases/perturbation.py, peak memory section).
_ACTIVATION_FACTOR = 4
_PERTURBED_ROW_FACTOR = 2
# Default calls start with as many copies as keep a call's largest activation within this
# many bytes (about a core's L2 cache on current x86 CPUs): on CPU a forward's cost per row
# grows with the batch once its activations leave the caches. A 32-channel residual CNN on
# 3x32x32 images (128 KiB per row), channels-last rows (layout.py), quiet machine: 0.61 ms/row
# at 4 rows, 0.54 at 8, 0.51 at 16, 0.67 at 32 and 0.88 at 128 on one thread; 0.40, 0.32,
# 0.42, 0.41, 0.43 on two. (In NCHW, before the layout: 1.5 ms/row at 1 row, 2.0 at 4, 2.8 at 8,
# hence 512 KiB then.) :class:`CopiesSearch` then grows the calls while that measurably pays.
CACHE_BYTES_TARGET = 1 << 20
# The clock the search measures chunks with: CPU time of the process, so the time other
# processes take from a loaded machine does not count as a cost of the chunk size (cache
# misses and spilled activations do). Tests replace it with a deterministic one.
clock: Callable[[], float] = time.process_time


def input_evaluator(
    forward_func: Callable[..., Any], target: Target, args: Optional[Tuple[Any, ...]],
    incremental: bool = False,
) -> RowEvaluator:
    """The :data:`RowEvaluator` for perturbed model inputs. A convolutional model gets its
    4-D rows in channels-last layout (:class:`~.layout.RowLayout`: faster, same sums).

    ``incremental``: the first call is the unperturbed forward, and a convolutional model on
    images runs later calls on patches around what they change
    (:class:`~.incremental.IncrementalRows`: less arithmetic, same sums up to rounding). If the
    model raises on patched stand-ins, that call runs again as usual and so do later ones."""
    model = model_behind(forward_func)
    layout = RowLayout(model)
    patches = (IncrementalRows() if incremental and incremental_enabled() and layout.channels_last
               and stacking_is_safe(forward_func) and IncrementalRows.model_can_take_part(model)
               else None)

    def run(rows: Tuple[Tensor, ...], copies: int) -> Tensor:
        return run_forward(forward_func, rows, target.repeat(copies),
                           expand_additional_forward_args(args, copies))

    def call(rows: Tuple[Tensor, ...], copies: int) -> Tensor:
        if patches is None or not patches.active:
            return run(rows, copies)
        stand_ins = patches.wrap(rows, copies)
        if stand_ins is rows:
            return run(rows, copies)
        try:
            output = IncrementalRows.unwrap(run(stand_ins, copies))
        except torch.OutOfMemoryError:
            raise
        except Exception:  # an operation the stand-ins cannot take part in
            output = None
        if output is not None and IncrementalRows.trusted(output, rows):
            return output
        patches.active = False  # this call and later ones run as usual
        return run(rows, copies)

    def evaluate(rows: Tuple[Tensor, ...], copies: int) -> Tensor:
        return layout.run(lambda laid_out: call(laid_out, copies), rows)

    evaluate.held_bytes = lambda: (  # type: ignore[attr-defined]
        0 if patches is None or patches.recording is None or not patches.active
        else patches.recording.bytes)
    return evaluate


def stacking_is_safe(forward_func: Callable[..., Any]) -> bool:
    """True when stacking copies into one call cannot change any copy's output.

    That holds for an ``nn.Module`` (or its bound method, or a callable exposing one as
    ``.model``) none of whose batch-dependent modules (batch norm, dropout, RReLU) is in
    training mode. For other callables we cannot tell, so they keep one copy per call.
    """
    explicit = getattr(forward_func, "stacks_rows_safely", None)
    if isinstance(explicit, bool):
        return explicit
    model = model_behind(forward_func)
    return model is not None and not any(
        m.training for m in model.modules() if isinstance(m, _BATCH_DEPENDENT))


def model_behind(forward_func: Callable[..., Any]) -> Optional[nn.Module]:
    """The ``nn.Module`` behind ``forward_func``: itself, the owner of a bound method, or the
    ``.model`` attribute of a wrapper (e.g. one that waits for futures)."""
    return module_of(forward_func) or module_of(getattr(forward_func, "model", None))


@dataclass
class EvaluationPlan:
    """How perturbations are evaluated.

    ``output``: the unperturbed targeted output (detached). ``num_examples``: N.
    ``copies``: perturbed copies per call. ``auto``: chosen by the engine (may fall back).
    ``per_example``: the output has dim 0 = N (it grows with the batch). ``search``: adjusts
    ``copies`` from measured chunk times while ``auto`` (None: fixed).
    """

    output: Tensor
    num_examples: int
    copies: int
    auto: bool
    per_example: bool
    search: Optional[CopiesSearch] = None

    @property
    def n_out(self) -> int:
        """Output values per copy (1 for a 0-d output)."""
        return max(1, self.output.numel())

    @property
    def flat_output(self) -> Tensor:
        return self.output.reshape(-1)


def plan_evaluation(
    evaluate: RowEvaluator,
    values: Tuple[Tensor, ...],
    n_perturbations: int,
    perturbations_per_eval: int,
    forward_func: Callable[..., Any],
    argument: str = "perturbations_per_eval",
) -> EvaluationPlan:
    """Evaluate the unperturbed ``values`` once and choose the copies per call."""
    ppe = check_int(argument, perturbations_per_eval, minimum=1)
    n = values[0].shape[0]
    safe = stacking_is_safe(forward_func)
    with torch.no_grad(), ActivationMeter(model_behind(forward_func), n) as meter:
        output = evaluate(values, 1)
    if isinstance(output, PendingOutput):  # attribute_future: planning needs the shape
        output = output.wait()
    output = output.detach()
    per_example = output.dim() > 0 and output.shape[0] == n
    per_row = (_ACTIVATION_FACTOR * meter.largest_row_bytes
               + _PERTURBED_ROW_FACTOR * row_bytes(values))
    # an evaluator may hold memory across calls (incremental evaluation's recording)
    held = getattr(evaluate, "held_bytes", lambda: 0)()
    within_budget = int(max(1, (get_memory_budget() - held) // max(1, per_row * n)))
    if ppe > 1:
        if not per_example:
            raise ValueError(
                f"`{argument}` > 1 needs a forward_func whose output grows with the batch "
                f"(one entry per example); with {n} examples the targeted output has shape "
                f"{tuple(output.shape)}. Use {argument}=1 for models that aggregate the batch."
            )
        # Captum's meaning: at most ppe copies per call; the memory budget can lower it.
        return EvaluationPlan(output, n, min(ppe, within_budget), auto=False, per_example=True)
    if not (per_example and safe and n_perturbations > 1):
        return EvaluationPlan(output, n, 1, auto=True, per_example=per_example)
    limit = min(n_perturbations, within_budget)
    if getattr(forward_func, "call_bytes_target", CACHE_BYTES_TARGET) is None:
        # The forward function asks for calls bounded by the memory budget alone (e.g. a
        # language model whose per-row cost does not grow with the batch).
        return EvaluationPlan(output, n, limit, auto=True, per_example=per_example)
    largest = max(meter.largest_row_bytes, row_bytes(values))
    cache_sized = max(1, CACHE_BYTES_TARGET // max(1, largest * n))
    search = CopiesSearch(start=cache_sized, limit=limit)
    return EvaluationPlan(output, n, search.size, auto=True, per_example=per_example,
                          search=search)


def _per_copy(output: Tensor, copies: int, plan: EvaluationPlan) -> Optional[Tensor]:
    """Outputs of a call on ``copies`` copies as ``(copies, n_out)``; None if they do not
    split into copies (the output did not grow with the batch)."""
    output = output.detach()
    if copies == 1:
        if max(1, output.numel()) != plan.n_out:
            raise ValueError(
                "the model output changed shape between evaluations: the unperturbed output "
                f"has shape {tuple(plan.output.shape)}, a perturbed one {tuple(output.shape)}."
            )
        return output.reshape(1, plan.n_out)
    if output.dim() == 0 or output.shape[0] != copies * plan.num_examples:
        return None
    return output.reshape(copies, -1)


def evaluate_perturbations(
    evaluate: RowEvaluator,
    plan: EvaluationPlan,
    n_perturbations: int,
    build: BuildRows,
    consume: ConsumeOutputs,
    progress_offset: float = 0.0,
    progress_total: Optional[float] = None,
    partial: Optional[Callable[[], Tuple[Tensor, ...]]] = None,
) -> None:
    """Evaluate perturbations ``0..n_perturbations-1`` in chunks of ``plan.copies``.

    ``build(start, stop)``: rows of perturbations ``start..stop-1`` (copy-major).
    ``consume(start, stop, outputs)``: their outputs, shape ``(stop-start, plan.n_out)``.
    Progress ``progress_offset + stop`` of ``progress_total`` (default ``n_perturbations``)
    is reported after each chunk; a progress callback returning False cancels.
    ``partial()``: the attributions from the chunks consumed so far, offered to listeners
    after each chunk (:func:`report_partial`; built only when one asks).
    """
    total = n_perturbations if progress_total is None else progress_total
    n = plan.num_examples
    planner = ChunkPlanner(n_perturbations, n, internal_batch_size=plan.copies * max(1, n),
                           argument="perturbations_per_eval")
    pending: list = []
    for start, stop in planner:
        copies = stop - start
        began = clock()
        rows = build(start, stop)
        with torch.no_grad():
            output = evaluate(rows, copies)
        if isinstance(output, PendingOutput):
            # attribute_future: start every evaluation before waiting for any of them, so the
            # model works on all chunks at once; their outputs are consumed in order below.
            pending.append((start, stop, rows, output))
        else:
            _consume_chunk(evaluate, plan, planner, start, stop, rows, output, consume, began)
            _report_chunk(progress_offset + stop, total, partial, stop < n_perturbations)
        del rows
    for start, stop, rows, future in pending:
        _consume_chunk(evaluate, plan, planner, start, stop, rows, future.wait(), consume)
        _report_chunk(progress_offset + stop, total, partial, stop < n_perturbations)


def _report_chunk(done: float, total: float, partial: Optional[Callable[[], Any]],
                  unfinished: bool) -> None:
    """After a chunk: its progress, then (before the last chunk) the partial attributions."""
    report_progress(done, total)
    if partial is not None and unfinished:
        report_partial(partial)


def _consume_chunk(evaluate: RowEvaluator, plan: EvaluationPlan, planner: ChunkPlanner,
                   start: int, stop: int, rows: Tuple[Tensor, ...], output: Tensor,
                   consume: ConsumeOutputs, began: Optional[float] = None) -> None:
    """Split a chunk's output into copies and pass it to ``consume`` (re-evaluating copies
    one by one when a stacked call did not grow with the batch). ``began`` is the clock at
    the chunk's start, for the search that sizes the default passes (None: not timed)."""
    n = plan.num_examples
    copies = stop - start
    with torch.no_grad():
        outputs = _per_copy(output, copies, plan)
        if (outputs is not None and began is not None and plan.auto
                and plan.search is not None):
            plan.copies = plan.search.record(copies, clock() - began)
            planner.chunk_items = plan.copies
        if outputs is None:
            if not plan.auto:
                raise ValueError(
                    "`perturbations_per_eval` > 1 needs a forward_func whose output grows "
                    f"with the batch; {copies} stacked copies of {n} examples did not give "
                    f"{copies * n} output rows."
                )
            # The model aggregates the batch after all: one copy per call from now on.
            plan.copies = 1
            plan.search = None
            planner.chunk_items = 1
            outputs = torch.cat([
                _per_copy(_resolved(evaluate(tuple(r[k * n:(k + 1) * n] for r in rows), 1)),
                          1, plan)
                for k in range(copies)])
    consume(start, stop, outputs)


def _resolved(output: Any) -> Tensor:
    """The value of an evaluator's output (a tensor, or a pending one)."""
    return output.wait() if isinstance(output, PendingOutput) else output


def select_groups(positions: Tensor, groups: Sequence[int]) -> Tensor:
    """Bool tensor (len(groups), *positions.shape): element belongs to each group."""
    wanted = torch.as_tensor(list(groups), device=positions.device)
    return positions.unsqueeze(0) == wanted.view(-1, *([1] * positions.dim()))


def stack_copies(value: Tensor, copies: int) -> Tensor:
    """``copies`` copies of ``value`` as a (copies, N, ...) tensor (a view, no copy)."""
    return value.unsqueeze(0).expand(copies, *value.shape)


def ablation_attributions(
    evaluate: RowEvaluator,
    values: Tuple[Tensor, ...],
    baselines: Optional[Tuple[Tensor, ...]],
    masks: FeatureMasks,
    plan: EvaluationPlan,
    perturb: Optional[GroupPerturbation] = None,
    groups_per_build: int = 1,
) -> Tuple[Tensor, ...]:
    """Attributions of feature ablation over the groups of ``masks``.

    For each group g (in group order) the perturbed copy replaces, in every value tensor, the
    elements of g by the baseline (or by ``perturb(i, value_i, selected)``, called input by
    input and group by group within blocks of ``groups_per_build`` groups, skipping inputs
    that hold none of the block's groups: Captum's order, which fixes the random stream of
    FeaturePermutation, whatever the evaluation chunks). With ``y0`` the unperturbed output
    (flattened, R values) and ``y_g`` the output with g perturbed, every element e of value i gets

        attribution_i[r, e] = y0[r] - y_g[r],   g = group of e (mask row r or 0),

    shape ``(R, *value_i.shape[1:])``: the value's shape when the output has one value per
    example. ``baselines`` are tensors broadcastable to the values (unused with ``perturb``).
    The dtype is the output's.
    """
    n_groups = masks.n_groups
    y0 = plan.flat_output
    differences = torch.empty(n_groups, plan.n_out, dtype=y0.dtype, device=y0.device)

    pending: dict = {}

    def build(start: int, stop: int) -> Tuple[Tensor, ...]:
        if perturb is None:
            return _ablated_rows(values, baselines, masks, range(start, stop))
        for g in range(start, stop):
            if g not in pending:  # build g's whole block at once: Captum's call order
                first = g - g % groups_per_build
                pending.update(_custom_copies(values, masks, perturb, first,
                                              min(n_groups, first + groups_per_build)))
        copies = [pending.pop(g) for g in range(start, stop)]
        return tuple(torch.cat([c[i] for c in copies]) for i in range(len(values)))

    done = [0]  # groups consumed so far (chunks arrive in order)

    def consume(start: int, stop: int, outputs: Tensor) -> None:
        differences[start:stop] = y0.unsqueeze(0) - outputs.to(y0.dtype)
        done[0] = stop

    def spread(per_group: Tensor) -> Tuple[Tensor, ...]:
        return tuple(spread_to_elements(per_group, p, v.shape)
                     for p, v in zip(masks.positions, values))

    def partial() -> Tuple[Tensor, ...]:
        so_far = torch.zeros_like(differences)
        so_far[:done[0]] = differences[:done[0]]
        return spread(so_far.t())

    evaluate_perturbations(evaluate, plan, n_groups, build, consume, partial=partial)
    return spread(differences.t())


def _ablated_rows(
    values: Sequence[Tensor], baselines: Sequence[Tensor], masks: FeatureMasks,
    groups: Sequence[int],
) -> Tuple[Tensor, ...]:
    rows = []
    count = len(groups)
    for value, baseline, positions in zip(values, baselines, masks.positions):
        selected = select_groups(positions, groups)
        perturbed = torch.where(selected, baseline.unsqueeze(0), stack_copies(value, count))
        rows.append(perturbed.reshape(count * value.shape[0], *value.shape[1:]))
    return tuple(rows)


def _custom_copies(
    values: Sequence[Tensor], masks: FeatureMasks, perturb: GroupPerturbation,
    start: int, stop: int,
) -> dict:
    """Perturbed copies of groups ``start..stop-1`` (one block), calling ``perturb`` input by
    input and group by group, for inputs holding at least one of the block's groups."""
    groups = list(range(start, stop))
    involved = set(masks.inputs_containing(groups))
    copies = {g: [None] * len(values) for g in groups}
    for i, (value, positions) in enumerate(zip(values, masks.positions)):
        for g in groups:
            copies[g][i] = perturb(i, value, positions == g) if i in involved else value
    return copies


def coalition_rows(
    values: Sequence[Tensor], baselines: Sequence[Tensor], player_masks: Sequence[Tensor],
    present: Tensor,
) -> Tuple[Tensor, ...]:
    """Rows for coalitions of players (Shapley values, LIME and Kernel SHAP samples).

    ``present``: bool (k, P): which of the P players (feature ids ``0..P-1``) keep their input
    value in each of the k coalitions; absent players take the baseline. ``player_masks[i]``
    holds the player id of every element of value i (first dimension 1 or N).
    Returns k stacked copies, copy-major.
    """
    count = present.shape[0]
    rows = []
    for value, baseline, ids in zip(values, baselines, player_masks):
        keep = present[:, ids.reshape(-1)].reshape(count, *ids.shape)
        perturbed = torch.where(keep, stack_copies(value, count), baseline.unsqueeze(0))
        rows.append(perturbed.reshape(count * value.shape[0], *value.shape[1:]))
    return tuple(rows)
