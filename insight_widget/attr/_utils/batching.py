"""The evaluation planner: how many expanded rows go into one model evaluation.

Path methods expand N examples into ``n_steps x N`` rows, sampling methods into
``n_samples x N`` rows, perturbation methods into ``perturbations x N`` rows. Evaluating all
rows at once is fastest until memory runs out. The planner splits the items (steps, samples,
perturbations) into chunks:

* with an explicit ``internal_batch_size`` (Captum's knob): ``max(1, internal_batch_size // N)``
  items per chunk, exactly as Captum chunks, with its warning when the size is below N;
* otherwise under a **memory budget** (default 1 GiB, ``INSIGHT_WIDGET_MEMORY_BUDGET`` or
  :func:`set_memory_budget`): small jobs run in one pass with no overhead; for large ones the
  first chunk is sized from the input bytes and measures what autograd actually saves per row
  (``torch.autograd.graph.saved_tensors_hooks``), and the following chunks are sized from that.

Chunked results are summed by the caller; since every algorithm that chunks is a sum over
items, the answer does not depend on the chunking (up to float rounding).
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from typing import Any, Iterator, List, Optional, Tuple

import torch
from torch import Tensor, nn

from .validation import check_int

_DEFAULT_BUDGET = 1 << 30
_budget_override: Optional[int] = None
# Before measuring, assume autograd saves this many bytes per input byte of a row.
ACTIVATION_BYTES_PER_INPUT_BYTE = 32


def _parse_bytes(text: str) -> int:
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?i?B?)?\s*", text, flags=re.IGNORECASE)
    if not match:
        raise ValueError(
            f"INSIGHT_WIDGET_MEMORY_BUDGET must be a size like '2GiB' or '500MB'; got {text!r}."
        )
    unit = (match.group(2) or "").upper().rstrip("B").rstrip("I")
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
    return int(float(match.group(1)) * scale)


def get_memory_budget() -> int:
    """Bytes of activations one evaluation may hold when no batch size is given."""
    if _budget_override is not None:
        return _budget_override
    env = os.environ.get("INSIGHT_WIDGET_MEMORY_BUDGET")
    return _parse_bytes(env) if env else _DEFAULT_BUDGET


def set_memory_budget(budget: Optional[int]) -> None:
    """Set the memory budget in bytes (``None`` restores the default / environment value)."""
    global _budget_override
    _budget_override = None if budget is None else check_int("budget", budget, minimum=1)


@contextlib.contextmanager
def memory_budget(budget: int) -> Iterator[None]:
    """Temporarily use ``budget`` bytes as the memory budget."""
    global _budget_override
    previous = _budget_override
    set_memory_budget(budget)
    try:
        yield
    finally:
        _budget_override = previous


def items_per_chunk(
    internal_batch_size: int, num_examples: int, argument: str = "internal_batch_size",
    minimum_items: int = 1,
) -> int:
    """Captum's rule: ``internal_batch_size // N`` items (steps) per chunk, at least
    ``minimum_items``; warns when the requested size is smaller than what one chunk needs."""
    items = internal_batch_size // num_examples
    if items < minimum_items:
        warnings.warn(
            f"`{argument}` ({internal_batch_size}) is smaller than {minimum_items} x the number "
            f"of examples ({num_examples}); using {minimum_items * num_examples} rows per batch.",
            UserWarning,
            stacklevel=3,
        )
        items = minimum_items
    return items


def row_bytes(tensors: Tuple[Tensor, ...]) -> int:
    """Bytes of one example (row) across ``tensors``."""
    return sum(t[0].numel() * t.element_size() for t in tensors if t.dim() > 0 and len(t))


class SavedBytesMeter(contextlib.AbstractContextManager):
    """Counts bytes of batch-shaped tensors that autograd saves for backward."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.bytes = 0
        self._seen: set = set()
        self._context = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def _pack(self, tensor: Tensor) -> Tensor:
        # A parameter, or a view of one (e.g. an output head's weight broadcast to a batch
        # of 1 in a matmul), is the model's memory, not the batch's, whatever its shape.
        if isinstance(tensor, nn.Parameter) or isinstance(tensor._base, nn.Parameter):
            return tensor
        if tensor.dim() > 0 and tensor.shape[0] == self.rows:
            key = (tensor.data_ptr(), tensor.numel())
            if key not in self._seen:
                self._seen.add(key)
                self.bytes += tensor.numel() * tensor.element_size()
        return tensor

    def __enter__(self) -> SavedBytesMeter:
        self._context.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._context.__exit__(*exc_info)


class ActivationMeter(contextlib.AbstractContextManager):
    """Largest per-row activation (bytes) of any leaf module during a forward pass.

    Perturbation methods run without autograd, so memory is bounded by the largest live
    activations rather than by what autograd saves; this measures them on a forward the method
    runs anyway (the unperturbed one).
    """

    def __init__(self, model: Optional[nn.Module], rows: int) -> None:
        self.rows = max(1, rows)
        self.largest_row_bytes = 0
        self._model = model
        self._handles: List[Any] = []

    def _hook(self, _module: nn.Module, _inputs: Any, output: Any) -> None:
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        size = sum(o.numel() * o.element_size() for o in outputs if isinstance(o, Tensor))
        self.largest_row_bytes = max(self.largest_row_bytes, size // self.rows)

    def __enter__(self) -> ActivationMeter:
        if self._model is not None:
            for module in self._model.modules():
                # (TorchScript modules take no hooks; their activations go unmeasured)
                if (not any(True for _ in module.children())
                        and not isinstance(module, torch.jit.ScriptModule)):
                    self._handles.append(module.register_forward_hook(self._hook))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        while self._handles:
            self._handles.pop().remove()


class ChunkPlanner:
    """Iterates ``(start, stop)`` item ranges covering ``range(n_items)``.

    With ``overlap=k`` consecutive chunks share k items (the next chunk starts k items before
    the previous one stopped), as Layer Conductance's finite differences need (k = 1, with
    ``minimum_items=2``).

    In budget mode, ``saved_row_bytes`` (what an earlier planner measured, its
    :attr:`saved_row_bytes`) sizes every chunk with no measuring; ``cautious=True`` makes the
    measured first chunk of a job that may not fit ``minimum_items`` long instead of sized from
    the input-bytes guess (which under-estimates deep CNNs several-fold).

    Use :meth:`measure` around the evaluation of each chunk; in budget mode the first chunk's
    measurement sizes the rest.
    """

    def __init__(
        self,
        n_items: int,
        num_examples: int,
        internal_batch_size: Optional[int] = None,
        input_row_bytes: int = 0,
        budget: Optional[int] = None,
        argument: str = "internal_batch_size",
        minimum_items: int = 1,
        overlap: int = 0,
        measure_first: bool = False,
        saved_row_bytes: Optional[int] = None,
        cautious: bool = False,
    ) -> None:
        if overlap >= minimum_items:
            raise ValueError("ChunkPlanner: `minimum_items` must exceed `overlap`.")
        self.n_items = n_items
        self.overlap = overlap
        self.num_examples = max(1, num_examples)
        self.budget = budget if budget is not None else get_memory_budget()
        self.minimum_items = minimum_items
        self._measured_row_bytes: Optional[int] = None
        self._measuring = False
        #: bytes autograd saved per row, once measured (or as given): callers that plan many
        #: evaluations of the same model pass it to the next planner instead of re-measuring
        self.saved_row_bytes = saved_row_bytes
        if internal_batch_size is not None:
            check_int(argument, internal_batch_size, minimum=1)
            self.chunk_items = items_per_chunk(internal_batch_size, self.num_examples, argument,
                                               minimum_items)
            return
        if saved_row_bytes is not None:
            per_item = max(1, saved_row_bytes * self.num_examples)
            self.chunk_items = max(minimum_items, self.budget // per_item)
            return
        total_rows = n_items * self.num_examples
        guess = max(1, input_row_bytes * ACTIVATION_BYTES_PER_INPUT_BYTE)
        if measure_first and n_items > minimum_items:
            self._measuring = True
            self.chunk_items = minimum_items
        elif guess * total_rows * 4 <= self.budget:
            self.chunk_items = n_items
        else:
            self._measuring = True
            # ``cautious``: the guess is only a guess (ResNet-50 saves ~140 bytes per input
            # byte, not 32), so the measured chunk is the smallest one.
            self.chunk_items = minimum_items if cautious else max(
                minimum_items, self.budget // (guess * self.num_examples))

    def chunks(self) -> Iterator[Tuple[int, int]]:
        start = 0
        while start < self.n_items:
            stop = min(self.n_items, start + self.chunk_items)
            yield start, stop
            if self._measured_row_bytes is not None:
                per_item = max(1, self._measured_row_bytes * self.num_examples)
                self.chunk_items = max(self.minimum_items, self.budget // per_item)
                self._measured_row_bytes = None
            if stop >= self.n_items:
                break
            # Finite-difference methods need the last item of a chunk again as the first of
            # the next (``overlap`` items shared); chunks are then at least overlap + 1 long.
            start = stop - self.overlap

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        return self.chunks()

    @contextlib.contextmanager
    def measure(self, rows: int) -> Iterator[None]:
        """Measure saved activation bytes of this chunk's evaluation (first chunk only)."""
        if not self._measuring:
            yield
            return
        self._measuring = False
        with SavedBytesMeter(rows) as meter:
            yield
        self._measured_row_bytes = max(1, meter.bytes // max(1, rows))
        self.saved_row_bytes = self._measured_row_bytes


class CopiesSearch:
    """Grows the perturbed copies per forward pass while measured throughput improves.

    Stacking copies into one call amortises the per-call cost (Python, dispatch, kernel
    set-up), which dominates small models; on compute-bound models a larger call can be
    slower *per row* once its activations leave the CPU caches (a 32-channel residual CNN on
    3x32x32 images, one thread: 2.0 ms/row at 4 rows, 2.8 at 8), while a ResNet-50's
    weight-heavy last stages prefer more rows. Sizes cannot tell which holds, so the engine
    measures on the chunks it evaluates anyway (no extra work): starting from ``start``
    copies it doubles the size while the time per copy falls by at least ``IMPROVEMENT``,
    then keeps the fastest size seen. Never above ``limit`` (the memory budget's bound).

    Usage: ``size`` is the next chunk's copies; call :meth:`record` with the copies and
    seconds of each evaluated chunk.
    """

    # Doubling must buy at least this fraction of time per copy: smaller gains are within
    # the noise of one measurement and not worth the larger working set.
    IMPROVEMENT = 0.1

    def __init__(self, start: int, limit: int) -> None:
        self.limit = max(1, limit)
        self.size = max(1, min(start, self.limit))
        self.searching = self.size < self.limit
        self._best: Optional[Tuple[int, float]] = None  # (copies, seconds per copy)

    def record(self, copies: int, seconds: float) -> int:
        """Account one evaluated chunk; returns the copies for the next one."""
        if not self.searching or copies != self.size:
            return self.size  # a truncated last chunk says nothing about this size
        per_copy = seconds / copies
        if self._best is None or per_copy <= self._best[1] * (1 - self.IMPROVEMENT):
            self._best = (copies, per_copy)
            self.size = min(self.limit, 2 * copies)
            self.searching = self.size > copies
        else:
            self.size = self._best[0]
            self.searching = False
        return self.size
