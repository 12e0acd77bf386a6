r"""Anytime Integrated Gradients: adaptive, refinable path quadrature (``n_steps="auto"``).

Integrated Gradients integrates the gradient g(alpha) = dF/dz at z(alpha) = x' + alpha (x - x')
over alpha in [0, 1]. Its completeness error (the convergence delta) is a quadrature error of the
scalar *directional derivative*

.. math::
    h(\alpha) = \sum_i (x_i - x'_i)\, g_i(\alpha) = \frac{d}{d\alpha} F(z(\alpha)),
    \qquad \int_0^1 h = F(x) - F(x').

Every evaluated node gives g (one backward) and F(z(alpha)) (the forward that precedes it), so on
any panel [a, b] whose ends are nodes the *local* delta is known exactly, with no extra pass:

.. math::
    \delta_{[a,b]} = Q_{[a,b]}(h) - \big(F(z(b)) - F(z(a))\big),
    \qquad \delta = \sum_{\text{panels}} \delta_{[a,b]}

(the F terms telescope, so the panels' deltas add up to the convergence delta of the whole
integral). ``Q`` is the trapezoid rule on a panel with no midpoint yet and Simpson's rule on a
panel with midpoint m = (a+b)/2:  Q = (b-a)/6 (h(a) + 4 h(m) + h(b)). Nodes live on a dyadic
grid, so refinement reuses every evaluated point: a trapezoid panel gains its midpoint (one new
node); a Simpson panel splits into two halves whose midpoints are new (two new nodes).

Per example, each round refines the panels with the largest |local delta| (a quarter of them,
at least one), and stops when

.. math::  |\delta| \le \tau\, |F(x) - F(x')|

(``delta_tolerance`` tau, with a floor at float rounding) or when the step budget (nodes per
example) is spent. The new nodes of all unfinished examples of a round are evaluated together,
in chunks under ``internal_batch_size`` or the memory budget. The attribution is
(x - x') * sum_nodes w_node g(node) with the composite weights of the current panels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generator, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .batching import ChunkPlanner, row_bytes
from .progress import report_progress
from .validation import check_int, describe, is_number

AUTO = "auto"
DEFAULT_DELTA_TOLERANCE = 0.01
DEFAULT_STEP_BUDGET = 256
# Refine this share of an example's panels per round (those with the largest |local delta|).
REFINE_SHARE = 0.25
# A panel narrower than this is not split further (2**-24: float32 alpha resolution near 1).
SMALLEST_PANEL = 2.0 ** -24
# The node alpha = 0 is evaluated at this alpha: h(0) itself is often a degenerate value that
# no neighbourhood shares (a bias-free ReLU network at a zero baseline has every activation at
# exactly 0, where ReLU' = 0, so h(0) = 0 while h = c on (0, 1]: a jump that costs Simpson's
# rule a halving of the error per refinement, measured on a random-weight ResNet-50). The
# integral of h does not depend on one point; h(0+) is what the quadrature needs. F there
# differs from F(x') by about LEFT_END |h|, float32 rounding of the outputs.
LEFT_END = 2.0 ** -24

# evaluator(example_index (R,), path rows) -> (gradients per row, targeted output per row (R,))
RowEvaluator = Callable[[Tensor, Tuple[Tensor, ...]], Tuple[Tuple[Tensor, ...], Tensor]]


@dataclass
class AnytimeResult:
    """One intermediate (or the final) result of anytime Integrated Gradients.

    ``attributions``: in the method's usual form (shaped like the inputs / the layer).
    ``delta``: convergence delta per example, shape (N,).
    ``steps``: gradient evaluations (path nodes) spent per example, shape (N,), int64.
    ``converged``: whether |delta| <= tolerance x |F(x) - F(x')| per example, shape (N,).
    ``final``: no refinement round follows (every example converged or spent its budget), so
    a caller streaming the rounds can show each one as soon as it arrives.
    """

    attributions: Any
    delta: Tensor
    steps: Tensor
    converged: Tensor
    final: bool = False

    @property
    def all_converged(self) -> bool:
        return bool(self.converged.all())


def is_auto(n_steps: Any) -> bool:
    """Whether ``n_steps`` asks for the anytime mode (the string ``"auto"``)."""
    return isinstance(n_steps, str) and n_steps == AUTO


def check_anytime_arguments(delta_tolerance: Any, step_budget: Any) -> Tuple[float, int]:
    """Validate ``delta_tolerance`` (a finite number > 0) and ``step_budget`` (an int >= 2)."""
    if not is_number(delta_tolerance):
        raise ValueError(
            f"`delta_tolerance` must be a number > 0; got {describe(delta_tolerance)}.")
    tolerance = float(delta_tolerance)
    if not math.isfinite(tolerance) or tolerance <= 0:
        raise ValueError(f"`delta_tolerance` must be a finite number > 0; got {tolerance!r}.")
    return tolerance, check_int("step_budget", step_budget, minimum=2)


def check_n_steps_form(n_steps: Any) -> None:
    """``n_steps`` must be an int or ``"auto"``; other strings get a message naming both."""
    if isinstance(n_steps, str) and not is_auto(n_steps):
        raise ValueError(f"`n_steps` must be an int or \"auto\"; got {n_steps!r}.")


def take_rows(tensor: Tensor, examples: Tensor, num_examples: int) -> Tensor:
    """Rows ``examples`` of a per-example tensor; a broadcast (1, ...) tensor is expanded."""
    if tensor.dim() > 0 and tensor.shape[0] == num_examples:
        return tensor.index_select(0, examples.to(tensor.device))
    return tensor.expand(num_examples, *tensor.shape[1:]).index_select(
        0, examples.to(tensor.device))


def take_additional_forward_args(
    args: Optional[Tuple[Any, ...]], examples: Tensor, num_examples: int
) -> Optional[Tuple[Any, ...]]:
    """Rows ``examples`` of every tensor argument with one row per example."""
    if args is None:
        return None
    return tuple(a.index_select(0, examples.to(a.device))
                 if isinstance(a, Tensor) and a.dim() > 0 and a.shape[0] == num_examples else a
                 for a in args)


def rows_on_path(
    inputs: Sequence[Tensor], baselines: Sequence[Any], examples: Tensor, alphas: Tensor
) -> Tuple[Tensor, ...]:
    """Path points ``x'_e + alpha_r (x_e - x'_e)`` for rows r of examples e = examples[r]."""
    n = inputs[0].shape[0]
    points = []
    for x, b in zip(inputs, baselines):
        rows = take_rows(x, examples, n)
        alpha = alphas.to(dtype=x.dtype, device=x.device).view(-1, *([1] * (x.dim() - 1)))
        if isinstance(b, Tensor):
            base = take_rows(b, examples, n)
            points.append(torch.addcmul(base, alpha, rows - base))
        elif b == 0:
            points.append(alpha * rows)
        else:
            points.append(torch.addcmul(rows.new_tensor(float(b)), alpha, rows - b))
    return tuple(points)


@dataclass
class _Panel:
    a: float
    b: float
    mid: Optional[float] = None
    local_delta: float = 0.0

    def new_nodes(self) -> List[float]:
        """Nodes refining this panel needs: its midpoint, or the midpoints of its halves."""
        if self.mid is None:
            return [0.5 * (self.a + self.b)]
        return [0.5 * (self.a + self.mid), 0.5 * (self.mid + self.b)]

    def refined(self) -> List[_Panel]:
        if self.mid is None:
            return [_Panel(self.a, self.b, 0.5 * (self.a + self.b))]
        return [_Panel(self.a, self.mid, 0.5 * (self.a + self.mid)),
                _Panel(self.mid, self.b, 0.5 * (self.mid + self.b))]


@dataclass
class _Example:
    """Panels and evaluated nodes (alpha -> (bank row, h, F)) of one example."""

    panels: List[_Panel]
    nodes: Dict[float, Tuple[int, float, float]] = field(default_factory=dict)
    done: bool = False
    converged: bool = False

    def weights(self) -> Dict[float, float]:
        weights: Dict[float, float] = {}
        for p in self.panels:
            width = p.b - p.a
            if p.mid is None:
                ends = width / 2
            else:
                ends = width / 6
                weights[p.mid] = weights.get(p.mid, 0.0) + 4 * width / 6
            weights[p.a] = weights.get(p.a, 0.0) + ends
            weights[p.b] = weights.get(p.b, 0.0) + ends
        return weights

    def update_deltas(self) -> float:
        """Recompute each panel's local delta; return their sum (the example's delta)."""
        total = 0.0
        for p in self.panels:
            h_a, f_a = self.nodes[p.a][1:]
            h_b, f_b = self.nodes[p.b][1:]
            width = p.b - p.a
            if p.mid is None:
                quadrature = width / 2 * (h_a + h_b)
            else:
                quadrature = width / 6 * (h_a + 4 * self.nodes[p.mid][1] + h_b)
            p.local_delta = quadrature - (f_b - f_a)
            total += p.local_delta
        return total


def _initial_panels(step_budget: int) -> List[_Panel]:
    # One Simpson panel (3 nodes): the first map after 3 passes; its refinement adds the
    # nodes 1/4 and 3/4 (the two-panel Simpson rule), so no pass is spent on a coarse start.
    if step_budget >= 3:
        return [_Panel(0.0, 1.0, 0.5)]
    return [_Panel(0.0, 1.0)]


class AnytimePathIntegral:
    """Adaptive integration of gradients along straight paths, one refinement round at a time.

    Args:
        evaluator: gradients (one tensor per path tensor, rows like the points) and targeted
            outputs (R,) at path rows of the given examples.
        inputs / baselines: the path ends, tuples of tensors (N, ...); baselines may be numbers
            or broadcastable tensors.
        tolerance, step_budget: the stopping rule (see the module docstring).
        internal_batch_size: rows per model evaluation (None = the memory budget).
        rows_per_example: tensors whose per-row bytes size the memory budget's chunks.
    """

    def __init__(self, evaluator: RowEvaluator, inputs: Tuple[Tensor, ...],
                 baselines: Tuple[Any, ...], tolerance: float, step_budget: int,
                 internal_batch_size: Optional[int] = None,
                 rows_per_example: Optional[Tuple[Tensor, ...]] = None) -> None:
        self.evaluator = evaluator
        self.inputs = inputs
        self.baselines = baselines
        self.tolerance = tolerance
        self.step_budget = step_budget
        self.internal_batch_size = internal_batch_size
        self.row_bytes = row_bytes(rows_per_example or inputs)
        self.n = inputs[0].shape[0]
        self.differences = tuple(x - b for x, b in zip(inputs, baselines))
        self.examples = [_Example(_initial_panels(step_budget)) for _ in range(self.n)]
        self._bank: List[Tuple[Tuple[Tensor, ...], Tensor]] = []  # (gradients, example ids)
        self._bank_rows = 0
        # autograd's saved bytes per row, measured on the first round's first chunk and reused
        # by every later round (each round plans its own chunks)
        self._saved_row_bytes: Optional[int] = None

    # -- refinement ---------------------------------------------------------------------------
    def rounds(self) -> Iterator[None]:
        """Run refinement rounds; yields after each (the state then holds a usable result)."""
        first = True
        while True:
            requests = self._initial_requests() if first else self._refinement_requests()
            first = False
            if not requests:
                return
            self._evaluate(requests)
            self._assess()
            report_progress(self._progress(), 1.0)
            yield None
            if self.finished:
                return

    def _initial_requests(self) -> List[Tuple[int, float]]:
        requests = []
        for index, example in enumerate(self.examples):
            alphas = sorted({a for p in example.panels for a in (p.a, p.b, p.mid)
                             if a is not None})
            requests.extend((index, a) for a in alphas)
        return requests

    def _refinement_requests(self) -> List[Tuple[int, float]]:
        requests = []
        for index, example in enumerate(self.examples):
            if example.done:
                continue
            room = self.step_budget - len(example.nodes)
            ranked = sorted((p for p in example.panels if p.b - p.a > SMALLEST_PANEL),
                            key=lambda p: -abs(p.local_delta))
            wanted = max(1, math.ceil(REFINE_SHARE * len(example.panels)))
            chosen = []
            for panel in ranked[:wanted]:
                cost = len(panel.new_nodes())
                if cost > room:
                    continue
                room -= cost
                chosen.append(panel)
            if not chosen:
                example.done = True
                continue
            for panel in chosen:
                requests.extend((index, a) for a in panel.new_nodes())
            keep = [p for p in example.panels if all(p is not c for c in chosen)]
            new = [q for c in chosen for q in c.refined()]
            example.panels = sorted(keep + new, key=lambda p: p.a)
        return requests

    def _evaluate(self, requests: List[Tuple[int, float]]) -> None:
        device = self.inputs[0].device
        examples = torch.tensor([r[0] for r in requests], dtype=torch.long, device=device)
        alphas = torch.tensor([max(r[1], LEFT_END) for r in requests], dtype=torch.float64,
                              device=device)
        planner = ChunkPlanner(len(requests), 1, self.internal_batch_size, self.row_bytes,
                               saved_row_bytes=self._saved_row_bytes, cautious=True)
        for start, stop in planner:
            ex, al = examples[start:stop], alphas[start:stop]
            points = rows_on_path(self.inputs, self.baselines, ex, al)
            with planner.measure(stop - start):
                grads, outputs = self.evaluator(ex, points)
            grads = tuple(g.detach() for g in grads)
            directional = None
            for g, d in zip(grads, self.differences):
                term = (g * take_rows(d, ex, self.n)).reshape(stop - start, -1).sum(1)
                directional = term if directional is None else directional + term
            h_values = directional.double().tolist()
            f_values = outputs.detach().reshape(-1).double().tolist()
            self._bank.append((grads, ex))
            for offset, (index, alpha) in enumerate(requests[start:stop]):
                self.examples[index].nodes[alpha] = (self._bank_rows + offset,
                                                     h_values[offset], f_values[offset])
            self._bank_rows += stop - start
        self._saved_row_bytes = planner.saved_row_bytes

    def _assess(self) -> None:
        for example in self.examples:
            if example.done:
                continue
            delta = example.update_deltas()
            f0, f1 = example.nodes[0.0][2], example.nodes[1.0][2]
            # Below ~1e3 float32 roundings of the outputs a delta cannot be resolved.
            floor = 1e3 * torch.finfo(torch.float32).eps * (abs(f0) + abs(f1))
            example.converged = abs(delta) <= max(self.tolerance * abs(f1 - f0), floor)
            if example.converged or len(example.nodes) >= self.step_budget:
                example.done = True

    @property
    def finished(self) -> bool:
        """Whether every example is done (converged or out of budget): no round follows."""
        return all(e.done for e in self.examples)

    def _progress(self) -> float:
        return sum(1.0 if e.done else len(e.nodes) / self.step_budget
                   for e in self.examples) / self.n

    # -- results ------------------------------------------------------------------------------
    def gradient_sums(self) -> Tuple[Tensor, ...]:
        """sum_nodes w_node g(node) per example for each path tensor, shapes of the inputs."""
        weights = torch.zeros(self._bank_rows, dtype=torch.float64)
        for example in self.examples:
            for alpha, w in example.weights().items():
                weights[example.nodes[alpha][0]] = w
        sums = [torch.zeros((self.n, *g.shape[1:]), dtype=g.dtype, device=g.device)
                for g in self._bank[0][0]]
        start = 0
        for grads, ex in self._bank:
            rows = ex.shape[0]
            w = weights[start:start + rows]
            for total, g in zip(sums, grads):
                scaled = g * w.to(g.dtype).to(g.device).view(-1, *([1] * (g.dim() - 1)))
                total.index_add_(0, ex.to(g.device), scaled)
            start += rows
        return tuple(sums)

    def steps(self) -> Tensor:
        return torch.tensor([len(e.nodes) for e in self.examples], dtype=torch.long)

    def converged(self) -> Tensor:
        return torch.tensor([e.converged for e in self.examples], dtype=torch.bool)

    def endpoint_outputs(self) -> Tuple[Tensor, Tensor]:
        """(F(z(0)), F(z(1))) per example from the evaluated end nodes."""
        dtype = self._bank[0][0][0].dtype
        f0 = torch.tensor([e.nodes[0.0][2] for e in self.examples], dtype=torch.float64)
        f1 = torch.tensor([e.nodes[1.0][2] for e in self.examples], dtype=torch.float64)
        device = self.inputs[0].device
        return f0.to(dtype=dtype, device=device), f1.to(dtype=dtype, device=device)


def anytime_results(
    integral: AnytimePathIntegral,
    finish: Callable[[Tuple[Tensor, ...]], Tuple[Any, Tuple[Tensor, ...]]],
    delta_of: Callable[[Tuple[Tensor, ...]], Tensor],
) -> Generator[AnytimeResult, None, None]:
    """Yield an :class:`AnytimeResult` after every refinement round.

    ``finish(gradient_sums) -> (attributions in the user's form, flat attribution tensors)``;
    ``delta_of(flat attribution tensors) -> delta (N,)``.
    """
    for _ in integral.rounds():
        attributions, flat = finish(integral.gradient_sums())
        yield AnytimeResult(attributions, delta_of(flat), integral.steps(), integral.converged(),
                            final=integral.finished)


def last_result(results: Iterator[AnytimeResult]) -> AnytimeResult:
    """Run an anytime computation to its end and return its final result."""
    final = None
    for result in results:
        final = result
    assert final is not None
    return final


__all__ = [
    "AUTO",
    "AnytimePathIntegral",
    "AnytimeResult",
    "anytime_results",
    "check_anytime_arguments",
    "is_auto",
    "last_result",
    "rows_on_path",
    "take_additional_forward_args",
]
