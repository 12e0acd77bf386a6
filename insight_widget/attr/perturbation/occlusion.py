"""Occlusion (Zeiler & Fergus, 2014): slide a baseline-valued window over each input."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Sequence, Tuple

import torch
from torch import Tensor

from .._utils.inputs import restore_format
from .._utils.perturbation import evaluate_perturbations, plan_evaluation, stack_copies
from .._utils.progress import progress_bar
from .._utils.validation import describe, is_int
from ..base import PerturbationAttribution, TensorOrTupleOfTensors
from ._common import prepare_perturbation, progress_title


@dataclass(frozen=True)
class _Windows:
    """The sliding windows over one input: per non-batch dimension d, window size ``shape[d]``
    and stride ``strides[d]``; windows start at 0, s, 2s, ... until the dimension is covered
    (the last may be cut off), i.e. ``ceil((D - w) / s) + 1`` positions (1 when w = D)."""

    shape: Tuple[int, ...]
    strides: Tuple[int, ...]
    dims: Tuple[int, ...]

    @property
    def counts(self) -> Tuple[int, ...]:
        return tuple(1 if d <= w else math.ceil((d - w) / s) + 1
                     for d, w, s in zip(self.dims, self.shape, self.strides))

    @property
    def total(self) -> int:
        return math.prod(self.counts)

    def coverage(self, device: torch.device) -> Tensor:
        """Number of windows covering each element, shape ``dims`` (a product over dims)."""
        result = torch.ones((), device=device)
        for d, (size, w, s, count) in enumerate(zip(self.dims, self.shape, self.strides,
                                                    self.counts)):
            start = torch.arange(count, device=device).unsqueeze(1) * s
            coordinate = torch.arange(size, device=device).unsqueeze(0)
            per_dim = ((coordinate >= start) & (coordinate < start + w)).sum(0).double()
            view = [1] * len(self.dims)
            view[d] = size
            result = result * per_dim.view(view)
        return result

    def masks(self, indices: Tensor, device: torch.device) -> Tensor:
        """Bool (len(indices), *dims): element inside each window."""
        result = torch.ones(len(indices), *([1] * len(self.dims)), dtype=torch.bool,
                            device=device)
        remaining = indices.to(device)
        for d in reversed(range(len(self.dims))):
            position = remaining % self.counts[d]
            remaining = remaining // self.counts[d]
            start = (position * self.strides[d]).unsqueeze(1)
            coordinate = torch.arange(self.dims[d], device=device).unsqueeze(0)
            inside = (coordinate >= start) & (coordinate < start + self.shape[d])
            view = [len(indices)] + [1] * len(self.dims)
            view[d + 1] = self.dims[d]
            result = result & inside.view(view)
        return result


def _per_input(value: Any, count: int, name: str) -> Tuple[Any, ...]:
    """One entry per input: a tuple of tuples for several inputs, a tuple for one (Captum
    also accepts a one-element tuple of tuples for a single input)."""
    if count == 1:
        nested = isinstance(value, tuple) and len(value) == 1 and isinstance(value[0], tuple)
        return value if nested else (value,)
    if not isinstance(value, tuple) or len(value) != count:
        raise ValueError(f"`{name}` must be a tuple with one entry per input ({count}); got "
                         f"{describe(value)}.")
    return value


def _windows(inputs: Sequence[Tensor], sliding_window_shapes: Any, strides: Any
             ) -> List[_Windows]:
    shapes = _per_input(sliding_window_shapes, len(inputs), "sliding_window_shapes")
    if strides is None:
        stride_entries: Tuple[Any, ...] = (1,) * len(inputs)
    elif is_int(strides):
        stride_entries = (strides,) * len(inputs)
    else:
        stride_entries = _per_input(strides, len(inputs), "strides")
    result = []
    for index, (x, shape, stride) in enumerate(zip(inputs, shapes, stride_entries)):
        where = f" for input {index}" if len(inputs) > 1 else ""
        dims = tuple(x.shape[1:])
        if not isinstance(shape, tuple) or not all(is_int(w) for w in shape) or len(shape) != len(
                dims):
            raise ValueError(
                f"`sliding_window_shapes`{where} must be a tuple of {len(dims)} ints (one per "
                f"non-batch dimension of the input of shape {tuple(x.shape)}); got "
                f"{describe(shape)}.")
        if any(w < 1 for w in shape):
            raise ValueError(f"`sliding_window_shapes`{where} must be positive; got {shape}.")
        if any(w > d for w, d in zip(shape, dims)):
            raise ValueError(
                f"`sliding_window_shapes`{where} {shape} is larger than the input's non-batch "
                f"shape {dims}.")
        if is_int(stride):
            stride = (int(stride),) * len(dims)
        if not isinstance(stride, tuple) or not all(is_int(s) for s in stride) or len(
                stride) != len(dims):
            raise ValueError(
                f"`strides`{where} must be an int or a tuple of {len(dims)} ints; got "
                f"{describe(stride)}.")
        if any(s < 1 for s in stride):
            raise ValueError(f"`strides`{where} must be positive ints; got {stride}.")
        for s, w, d in zip(stride, shape, dims):
            if w < d and s > w:
                raise ValueError(
                    f"`strides`{where} {stride} must not exceed the window "
                    f"{shape} in a dimension the window does not span, or elements would "
                    "never be occluded.")
        result.append(_Windows(tuple(int(w) for w in shape), tuple(int(s) for s in stride),
                               dims))
    return result


class Occlusion(PerturbationAttribution):
    r"""Occlusion: every window position k replaces a hyperrectangle of one input by the
    baseline; each element e gets the mean output change over the windows covering it:

    .. math:: a_e = \frac{1}{|K_e|} \sum_{k \in K_e} \left(F(x) - F(x_{[k \leftarrow x']})\right).

    A 1-element window with stride 1 is per-element feature ablation. Batching as in
    :class:`FeatureAblation` (several windows per forward pass by default).

    Args:
        forward_func: the model or any callable returning the output tensor.
    """

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        sliding_window_shapes: Any,
        strides: Any = None,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        perturbations_per_eval: int = 1,
        show_progress: bool = False,
    ) -> TensorOrTupleOfTensors:
        """Occlusion attributions.

        Args:
            inputs: tensor or tuple of tensors, dim 0 = N examples.
            sliding_window_shapes: window shape per input: a tuple of ``input.dim() - 1`` ints
                (a tuple of such tuples for several inputs).
            strides: step of the window: None (1), an int, a tuple per dimension, or (several
                inputs) a tuple with an int or tuple per input. Must not exceed the window in
                dimensions the window does not span.
            baselines, target, additional_forward_args, perturbations_per_eval, show_progress:
                as for :class:`FeatureAblation`.

        Returns:
            Attributions shaped like ``inputs`` (``(R, ...)`` for aggregated outputs).
        """
        prepared = prepare_perturbation(self.forward_func, inputs, baselines, target,
                                        additional_forward_args, None, show_progress,
                                        use_mask=False)
        call = prepared.call
        windows = _windows(call.inputs, sliding_window_shapes, strides)
        offsets = [0]
        for w in windows:
            offsets.append(offsets[-1] + w.total)
        total = offsets[-1]
        with torch.no_grad(), progress_bar(show_progress, progress_title(self)):
            plan = plan_evaluation(prepared.evaluate, call.inputs, total,
                                   perturbations_per_eval, self.forward_func)
            y0 = plan.flat_output
            sums = [torch.zeros(plan.n_out, *w.dims, dtype=y0.dtype, device=y0.device)
                    for w in windows]
            chunk_masks: List[List[Tensor]] = []

            def window_masks(start: int, stop: int) -> List[Tensor]:
                """Per input: bool (stop-start, *dims), False for other inputs' windows."""
                masks = []
                for i, w in enumerate(windows):
                    lo, hi = max(start, offsets[i]), min(stop, offsets[i + 1])
                    m = torch.zeros(stop - start, *w.dims, dtype=torch.bool,
                                    device=call.inputs[i].device)
                    if lo < hi:
                        m[lo - start:hi - start] = w.masks(torch.arange(lo - offsets[i],
                                                                         hi - offsets[i]),
                                                           m.device)
                    masks.append(m)
                return masks

            def build(start: int, stop: int) -> Tuple[Tensor, ...]:
                masks = window_masks(start, stop)
                chunk_masks.append(masks)
                rows = []
                for x, b, m in zip(call.inputs, prepared.baselines, masks):
                    k = stop - start
                    perturbed = torch.where(m.unsqueeze(1), b.unsqueeze(0), stack_copies(x, k))
                    rows.append(perturbed.reshape(k * x.shape[0], *x.shape[1:]))
                return tuple(rows)

            def consume(start: int, stop: int, outputs: Tensor) -> None:
                differences = y0.unsqueeze(0) - outputs.to(y0.dtype)  # (k, R)
                for s, m in zip(sums, chunk_masks.pop()):
                    flat = m.reshape(m.shape[0], -1).to(differences.dtype)
                    s.view(plan.n_out, -1).add_(differences.t() @ flat)

            def averaged() -> Tuple[Tensor, ...]:
                # windows not yet evaluated add nothing: a partial map has zeros there
                return tuple(s / w.coverage(x.device).unsqueeze(0).to(s.dtype)
                             for x, w, s in zip(call.inputs, windows, sums))

            evaluate_perturbations(prepared.evaluate, plan, total, build, consume,
                                   partial=averaged)
        return restore_format(averaged(), call.was_tuple)
