"""Incremental evaluation of perturbed images: recompute only what a perturbation changes.

Ablation, occlusion and Shapley sampling of an image run the model on many copies of the
batch that differ from the unperturbed one only inside a box (a patch, a window, a few
segments). In a convolutional network the change spreads by the kernels' reach per layer, so
the first layers (where most of a CNN's activations are, and a large part of its
multiply-adds) differ only in a box a little larger than the perturbed one. This module runs
the model once on the unperturbed batch *recording* every layer's output, then runs each
perturbed chunk on a stand-in input, a :class:`Patched` tensor, that holds only

* ``base``: the unperturbed value, shape ``(N, C, H, W)`` (a recorded tensor), and
* ``patch``: the values of the ``K`` copies inside a box of common size ``S x T``, shape
  ``(K*N, C, S, T)``, the box of copy ``k`` starting at row ``tops[k]``, column ``lefts[k]``;
  outside its box copy ``k`` equals ``base``.

Operations on a :class:`Patched` tensor work on patches (``__torch_function__``):

* a 2-D convolution or max pooling with kernel ``k``, stride ``s``, padding ``p``, dilation
  ``d`` changes outputs ``o`` whose window ``[o*s - p, o*s - p + (k-1)d]`` meets the box
  ``[a, a+S)``: at most ``(S - 1 + (k-1)d) // s + 1`` of them per dimension. Their input region
  (``(S_o - 1)s + (k-1)d + 1`` long, base values with the copy's patch written over them, the
  padding value outside the image) is convolved without padding, which gives exactly the
  changed outputs (see :func:`window_box`);
* point-wise operations (activations, batch norm in eval mode, adding a per-channel constant)
  apply to the patch alone; adding two patched tensors (a residual connection) works on the
  union of their boxes;
* a batch norm in eval mode that is the only reader of a convolution's output (as the
  recording pass saw) is folded into that convolution's weights, ``w' = w * s``,
  ``b' = (b - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)``: one pass instead of
  two, on patches and on whole maps alike (a stand-in stays one after its box has grown to
  the whole map, so later layers still run through these rules);
* a global average pool adds ``(sum(patch) - sum(base in the box)) / (H*W)`` to the recorded
  pooled base;
* anything else first *materializes* the tensor (``(K*N, C, H, W)``, base with the patches
  written in; a whole stand-in is its patch) and runs as usual. So any model runs; the
  ones made of the operations above run faster.

The unperturbed output of every operation (e.g. the convolution of the whole unperturbed
activation) comes from the recording (:class:`Recording`), looked up by the operation, the
serial numbers of its patched operands and the identity of its other operands (the model's
parameters), so each chunk costs only the patches. The recording keeps a value only when a
later operation reads it (a window's or a sum's input, a pooled or materialized value), not a
convolution output that only feeds its batch norm: 259 MiB for ResNet-50 on 4 images of
224x224 (573 MiB if it kept everything). It holds at most half the memory budget
(:func:`~.batching.get_memory_budget`; the engine's passes get the rest); operations met
beyond it run as usual. It is freed by reference counting when the evaluator goes (stand-ins
refer to it, it refers to no stand-in).

Work saved, transformers' ResNet-50 at 224x224: with a 56x56 patch (16-patch ablation, a
quarter-side occlusion window) the stem and the first three stages see boxes of a fraction of
their maps, and a perturbed pass costs about half a plain one; with a quadrant the box covers
the whole map from the third stage on and a pass saves about 20% (README, "Compute-bound
CNNs").

Numbers: a convolution over a region sums the same products as over the whole map, in the
order oneDNN picks for that shape, so outputs differ from a whole-map evaluation by float32
rounding only (as channels-last rows do, :mod:`.layout`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .batching import get_memory_budget

# Images smaller than this (per example, H*W) run as usual: on CIFAR-size maps a whole-map
# evaluation costs about as much as the Python work of handling patches layer by layer.
MIN_PIXELS = 64 * 64
# A chunk whose copies' boxes cover more than this fraction of the image runs as usual.
MAX_BOX_FRACTION = 0.5


def enabled() -> bool:
    """Incremental evaluation is on unless the environment sets
    ``INSIGHT_WIDGET_INCREMENTAL=0`` (for maps that must equal a whole-map evaluation bit for
    bit rather than to float32 rounding)."""
    return os.environ.get("INSIGHT_WIDGET_INCREMENTAL", "1").strip().lower() not in (
        "0", "false", "no", "off")


_METADATA = {
    "dim", "ndimension", "size", "numel", "nelement", "element_size", "is_floating_point",
    "is_complex", "get_device", "__len__",
}
# Tensor properties that describe it (its other properties, e.g. ``.data``, are values)
_DESCRIPTIVE_PROPERTIES = {
    "shape", "dtype", "device", "ndim", "requires_grad", "is_cuda", "layout", "is_sparse",
    "is_quantized", "is_meta", "is_mkldnn", "is_leaf", "grad_fn", "names",
}
_POINTWISE = {
    F.relu, torch.relu, Tensor.relu, F.relu6, F.gelu, F.silu, F.hardswish, F.hardsigmoid,
    F.leaky_relu, F.elu, F.hardtanh, F.sigmoid, torch.sigmoid, Tensor.sigmoid, torch.tanh,
    Tensor.tanh, F.tanh, F.mish,
}
# point-wise functions with an ``inplace`` argument
_INPLACE_FLAG = {F.relu, F.relu6, F.hardtanh, F.leaky_relu, F.elu, F.silu, F.hardswish,
                 F.hardsigmoid, F.mish}
# in-place point-wise functions and their out-of-place forms
_POINTWISE_INPLACE = {F.relu_: torch.relu, torch.relu_: torch.relu, Tensor.relu_: torch.relu,
                      Tensor.sigmoid_: torch.sigmoid, Tensor.tanh_: torch.tanh}
_ARITHMETIC = {
    torch.add: "add", Tensor.add: "add", Tensor.__add__: "add", Tensor.__radd__: "add",
    torch.sub: "sub", Tensor.sub: "sub", Tensor.__sub__: "sub",
    torch.mul: "mul", Tensor.mul: "mul", Tensor.__mul__: "mul", Tensor.__rmul__: "mul",
    torch.div: "div", Tensor.div: "div", Tensor.__truediv__: "div",
}
_ARITHMETIC_INPLACE = {
    Tensor.add_: "add", Tensor.__iadd__: "add", Tensor.sub_: "sub", Tensor.__isub__: "sub",
    Tensor.mul_: "mul", Tensor.__imul__: "mul", Tensor.div_: "div", Tensor.__itruediv__: "div",
}
_OPERATORS: Dict[str, Callable[[Any, Any], Tensor]] = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}


def window_box(tops: Sequence[int], size: int, kernel: int, stride: int, padding: int,
               dilation: int, out_length: int) -> Tuple[List[int], int, List[int], int]:
    """The outputs of a sliding window (convolution, pooling) along one dimension that can
    change when the inputs in ``[tops[k], tops[k] + size)`` do.

    Output ``o`` reads inputs ``o*stride - padding + j*dilation``, ``0 <= j < kernel``, so it
    can change iff ``ceil((a + padding - (kernel-1)*dilation) / stride) <= o <=
    floor((a + size - 1 + padding) / stride)``: at most ``(size - 1 + (kernel-1)*dilation) //
    stride + 1`` outputs. Returns ``(out_tops, out_size, region_tops, region_size)``: the
    output boxes (common size, each shifted to lie inside ``[0, out_length)``) and the input
    regions their windows read (``region_tops`` may be negative or run past ``length``: there
    the padding value is read).
    """
    reach = (kernel - 1) * dilation
    out_size = min(out_length, (size - 1 + reach) // stride + 1)
    # the first changed output, ceil((a + padding - reach) / stride) (0 when negative), moved
    # back so that the box ends inside the output
    out_tops = [min(max(0, -((reach - a - padding) // stride)), out_length - out_size)
                for a in tops]
    region = (out_size - 1) * stride + reach + 1
    return out_tops, out_size, [o * stride - padding for o in out_tops], region


def union_box(tops_a: Sequence[int], size_a: int, tops_b: Sequence[int], size_b: int,
              length: int) -> Tuple[List[int], int]:
    """Boxes of one common size covering box ``a`` and box ``b`` of every copy."""
    size = max(max(ta + size_a, tb + size_b) - min(ta, tb) for ta, tb in zip(tops_a, tops_b))
    size = min(size, length)
    return [min(min(ta, tb), length - size) for ta, tb in zip(tops_a, tops_b)], size


class Unrecorded(RuntimeError):
    """A replayed operation needs an unperturbed value the recording did not keep (the model
    took another path than in the recording pass): the evaluator then runs as usual."""


@dataclass
class Record:
    """One recorded operation's unperturbed output: its ``serial`` (which later operations'
    keys name), ``shape``, and its ``value``, kept only once a later operation reads it."""

    serial: int
    shape: Tuple[int, ...]
    value: Optional[Tensor] = None


class Recording:
    """The unperturbed outputs of the operations a forward ran on stand-ins, keyed by the
    operation, the serials of its patched operands and the identity of its other tensor
    operands (kept alive, so identities are not reused). A value is kept only when an
    operation reads it (a window's or a sum's input, a materialized tensor): a point-wise
    layer's output that only feeds the next point-wise layer is not. Beyond ``byte_limit``
    kept bytes, operations met for the first time run as usual (also in later passes).
    ``macs_done`` / ``macs_whole``: multiply-adds of convolutions run on patches, and what
    they would have cost on whole maps."""

    def __init__(self, byte_limit: int) -> None:
        self.byte_limit = byte_limit
        self.bytes = 0
        self.records: Dict[Tuple[Any, ...], Optional[Record]] = {}
        self.serials: List[Record] = []
        self.operands: List[Any] = []
        # which operations read each recorded value (by serial), and each batch norm's
        # parameters: a convolution read only by a batch norm gets the norm folded in
        self.consumers: Dict[int, List[Tuple[Any, ...]]] = {}
        self.batch_norms: Dict[Tuple[Any, ...], Dict[str, Any]] = {}
        self.folded: Dict[int, Tuple[Tensor, Tensor]] = {}
        self.weights: Dict[int, Tuple[Tensor, Tensor]] = {}
        self.macs_done = 0
        self.macs_whole = 0

    def output(self, key: Tuple[Any, ...], operands: Any,
               compute: Callable[[], Tensor], consumed: Sequence[int] = ()
               ) -> Optional[Tuple[Record, Optional[Tensor]]]:
        """The record of operation ``key`` and, when it is new (the recording pass), its
        value ``compute()``; None when it runs as usual (the recording was full when it was
        first met). ``consumed``: serials of the stand-ins it reads."""
        if key in self.records:
            record = self.records[key]
            return None if record is None else (record, record.value)
        if self.bytes >= self.byte_limit:
            self.records[key] = None
            return None
        value = compute()
        for serial in consumed:
            self.consumers.setdefault(serial, []).append(key)
        record = Record(len(self.serials), tuple(value.shape))
        self.serials.append(record)
        self.records[key] = record
        self.operands.append(operands)
        return record, value

    def folded_batch_norm(self, serial: int, weight: Tensor, bias: Optional[Tensor]
                          ) -> Optional[Tuple[Tuple[Any, ...], Tensor, Tensor]]:
        """When the value ``serial`` (a convolution's output) is read by one eval-mode batch
        norm and nothing else: that norm's key and the convolution's weight and bias with the
        norm folded in, ``w' = w * s``, ``b' = (b - mean) * s + beta`` with
        ``s = gamma / sqrt(var + eps)`` per output channel (made once per convolution)."""
        readers = self.consumers.get(serial, [])
        if len(readers) != 1 or readers[0] not in self.batch_norms:
            return None
        norm_key = readers[0]
        if serial not in self.folded:
            norm = self.batch_norms[norm_key]
            scale = torch.rsqrt(norm["running_var"] + norm["eps"])
            if norm.get("weight") is not None:
                scale = scale * norm["weight"]
            shift = -norm["running_mean"] * scale
            if bias is not None:
                shift = shift + bias * scale
            if norm.get("bias") is not None:
                shift = shift + norm["bias"]
            self.folded[serial] = ((weight * scale.view(-1, 1, 1, 1)).to(weight.dtype),
                                     shift.to(weight.dtype))
        return (norm_key, *self.folded[serial])

    def keep(self, x: Patched) -> None:
        """Keep ``x``'s unperturbed value: an operation reads it (in every pass)."""
        record = self.serials[x.serial]
        if record.value is None:
            if x.base is None:
                raise Unrecorded("an unperturbed value was not recorded")
            record.value = x.base
            self.bytes += x.base.numel() * x.base.element_size()

    def laid_out_weight(self, weight: Tensor, region: Tensor) -> Tensor:
        """``weight`` in the layout of ``region`` (a channels-last convolution otherwise
        reorders its NCHW weight on every call), made once per weight within the limit."""
        if not region.is_contiguous(memory_format=torch.channels_last) or region.is_contiguous():
            return weight
        found = self.weights.get(id(weight))
        if found is None:
            if self.bytes >= self.byte_limit:
                return weight
            found = (weight.contiguous(memory_format=torch.channels_last), weight)
            self.weights[id(weight)] = found  # (keeps ``weight`` alive: its id stays its own)
            self.bytes += weight.numel() * weight.element_size()
        return found[0]


def _key_part(value: Any) -> Any:
    if isinstance(value, Patched):
        return ("patched", value.serial)
    if isinstance(value, Tensor):
        return ("tensor", id(value))
    if isinstance(value, (list, tuple)):
        return tuple(_key_part(v) for v in value)
    if isinstance(value, (int, float, bool, str, type(None), torch.dtype)):
        return value
    return ("object", id(value))


def _laid_out(shape: Sequence[int], like: Tensor, fill: Optional[float]) -> Tensor:
    """A new 4-D tensor of ``shape`` (channels-last when ``like`` is), filled with ``fill``
    (None: uninitialized)."""
    memory_format = (torch.channels_last if like.is_contiguous(memory_format=torch.channels_last)
                     and not like.is_contiguous() else torch.contiguous_format)
    if fill is None:
        return torch.empty(shape, dtype=like.dtype, device=like.device,
                           memory_format=memory_format)
    return torch.full(shape, fill, dtype=like.dtype, device=like.device).contiguous(
        memory_format=memory_format)


def _overlap(start: int, size: int, lo: int, hi: int) -> Tuple[int, int]:
    return max(start, lo), min(start + size, hi)


class Patched(Tensor):
    """A batch of ``copies`` perturbed copies of an unperturbed value that differ from it
    inside one box each (see the module docstring). A stand-in with the full shape
    ``(K*N, C, H, W)`` and no data of its own.

    ``serial``: the record of the unperturbed value; ``base``: that value (None in a replay
    when no operation reads it); ``patch``: ``(K*N, C, S, T)``, None when the copies equal
    the unperturbed value (the recording pass); ``tops``/``lefts``: each copy's box.
    """

    serial: int
    base: Optional[Tensor]
    patch: Optional[Tensor]
    tops: List[int]
    lefts: List[int]
    copies: int
    recording: Recording
    # the key of a batch norm already applied to ``patch`` (folded into the convolution that
    # made it): that norm passes the patch on; anything else reading this value is not
    # expected (the recording saw only that norm read it)
    applied: Optional[Tuple[Any, ...]] = None

    @staticmethod
    def make(record: Record, base: Optional[Tensor], patch: Optional[Tensor],
             tops: Sequence[int], lefts: Sequence[int], copies: int,
             recording: Recording) -> Patched:
        n, c, h, w = record.shape
        like = base if base is not None else patch
        assert like is not None
        # its own data (one element, broadcast) is NaN: code that reads a tensor's memory
        # without going through ``__torch_function__`` (TorchScript, C++ extensions) gets
        # NaN outputs, which the evaluator takes as "run as usual" (IncrementalRows.trusted)
        stand_in = torch.full((), math.nan, dtype=like.dtype, device=like.device).expand(
            copies * n, c, h, w)
        self = stand_in.as_subclass(Patched)
        self._set(record.serial, base, patch, tops, lefts, copies, recording)
        return self

    def _set(self, serial: int, base: Optional[Tensor], patch: Optional[Tensor],
             tops: Sequence[int], lefts: Sequence[int], copies: int,
             recording: Recording) -> None:
        self.serial, self.base, self.patch = serial, base, patch
        self.applied = None
        self.tops, self.lefts, self.copies = list(tops), list(lefts), copies
        self.recording = recording

    @property
    def full_shape(self) -> Tuple[int, ...]:
        """``(N, C, H, W)`` of the unperturbed value."""
        return self.recording.serials[self.serial].shape

    @property
    def box(self) -> Tuple[int, int]:
        assert self.patch is not None
        return self.patch.shape[-2], self.patch.shape[-1]

    @property
    def whole(self) -> bool:
        """The patch covers the whole map (it *is* the value)."""
        return self.patch is not None and self.box == tuple(self.full_shape[-2:])

    def values(self) -> Tensor:
        """The unperturbed value (kept for every pass: an operation reads it)."""
        self.recording.keep(self)
        assert self.base is not None
        return self.base

    def region(self, tops: Sequence[int], height: int, lefts: Sequence[int], width: int,
               fill: float = 0.0) -> Tensor:
        """The copies' values over per-copy regions ``[tops[k], tops[k]+height) x [lefts[k],
        lefts[k]+width)`` (which may reach outside the map: ``fill`` there), ``(K*N, C,
        height, width)``: the patch where the region meets the box, the unperturbed value on
        the rest (at most four strips around the box). The patch itself when the regions are
        the boxes (e.g. a 1x1 convolution's input)."""
        if (self.patch is not None and (height, width) == self.box
                and list(tops) == self.tops and list(lefts) == self.lefts):
            return self.patch
        base = self.values()
        n, c, h, w = base.shape
        inside = all(t >= 0 and t + height <= h and le >= 0 and le + width <= w
                     for t, le in zip(tops, lefts))
        out = _laid_out((self.copies * n, c, height, width), base, None if inside else fill)
        s, sw = self.box if self.patch is not None else (0, 0)
        for k, (t, le) in enumerate(zip(tops, lefts)):
            rows = out[k * n:(k + 1) * n]
            r0, r1 = _overlap(t, height, 0, h)  # the region inside the map
            c0, c1 = _overlap(le, width, 0, w)
            pt, pl = (self.tops[k], self.lefts[k]) if self.patch is not None else (0, 0)
            p0, p1 = _overlap(pt, s, r0, r1)  # the box inside that
            q0, q1 = _overlap(pl, sw, c0, c1)
            if p1 <= p0 or q1 <= q0:
                p0 = p1 = r0
                q0 = q1 = c0
            else:
                assert self.patch is not None
                rows[:, :, p0 - t:p1 - t, q0 - le:q1 - le] = (
                    self.patch[k * n:(k + 1) * n, :, p0 - pt:p1 - pt, q0 - pl:q1 - pl])
            for (a0, a1), (b0, b1) in (((r0, p0), (c0, c1)), ((p1, r1), (c0, c1)),
                                       ((p0, p1), (c0, q0)), ((p0, p1), (q1, c1))):
                if a1 > a0 and b1 > b0:
                    rows[:, :, a0 - t:a1 - t, b0 - le:b1 - le] = base[:, :, a0:a1, b0:b1]
        return out

    def materialize(self) -> Tensor:
        """The value as an ordinary tensor; afterwards this object stands for that tensor
        (so in-place changes of it, or of views of it, are seen by later readers)."""
        if self.whole:
            assert self.patch is not None
            return self.patch
        if self.patch is None:
            # read by an operation without a patch rule (the recording pass): no batch norm
            # may be folded into the operation that made this value
            self.recording.consumers.setdefault(self.serial, []).append(("materialized",))
            value = self.values().clone()  # never hand out a recorded tensor: it may change
        else:
            h, w = self.full_shape[-2:]
            value = self.region([0] * self.copies, h, [0] * self.copies, w)
        self.patch, self.tops, self.lefts = value, [0] * self.copies, [0] * self.copies
        return value

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Sequence[Any] = (),
                           kwargs: Optional[Dict[str, Any]] = None) -> Any:
        kwargs = kwargs or {}
        if func is Tensor.contiguous and isinstance(args[0], Patched):
            return args[0]  # a stand-in is laid out as the model wants
        if _describes(func):
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs)
        patched = [a for a in list(args) + list(kwargs.values()) if isinstance(a, Patched)]
        if any(a.applied is not None for a in patched) and func is not F.batch_norm:
            raise Unrecorded("a folded batch norm's input was read by another operation")
        if patched:
            handled = _handle(func, args, kwargs)
            if handled is not NotImplemented:
                return handled
        args = [_plain(a) for a in args]
        kwargs = {k: _plain(v) for k, v in kwargs.items()}
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **kwargs)


def _describes(func: Any) -> bool:
    """``func`` only reads a tensor's metadata (shape, dtype, device, ...)."""
    name = getattr(func, "__name__", "")
    if name == "__get__":
        return getattr(getattr(func, "__self__", None), "__name__", "") in _DESCRIPTIVE_PROPERTIES
    return name in _METADATA


def _plain(value: Any) -> Any:
    if isinstance(value, Patched):
        return value.materialize()
    if isinstance(value, (list, tuple)) and any(isinstance(v, Patched) for v in value):
        return type(value)(_plain(v) for v in value)
    return value


Found = Optional[Tuple[Record, Optional[Tensor]]]


def _output(func: Any, args: Sequence[Any], kwargs: Dict[str, Any], x: Patched) -> Found:
    """The record of ``func`` on these operands (computed from the operands' unperturbed
    values when new); None when it runs as usual."""
    key = _key(func, args, kwargs)

    def compute() -> Tensor:
        if any(isinstance(a, Patched) and a.base is None
               for a in list(args) + list(kwargs.values())):
            raise Unrecorded("an operation was not met in the recording pass")
        bases = [a.base if isinstance(a, Patched) else a for a in args]
        kw = {k: v.base if isinstance(v, Patched) else v for k, v in kwargs.items()}
        with torch._C.DisableTorchFunctionSubclass():
            return func(*bases, **kw)

    operands = list(args) + list(kwargs.values())
    consumed = [a.serial for a in _stand_ins(operands)]
    return x.recording.output(key, _plain_tensors(operands), compute, consumed)


def _key(func: Any, args: Sequence[Any], kwargs: Dict[str, Any]) -> Tuple[Any, ...]:
    """An operation's key in the recording: the function and its operands' key parts."""
    return (func, _key_part(tuple(args)), _key_part(tuple(sorted(kwargs.items()))))


def _stand_ins(values: Sequence[Any]) -> List[Patched]:
    found: List[Patched] = []
    for value in values:
        if isinstance(value, Patched):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(_stand_ins(value))
    return found


def _plain_tensors(values: Sequence[Any]) -> List[Tensor]:
    """The ordinary tensors among ``values`` (nested in lists/tuples too): what a record keeps
    alive so that their identities in its key are not reused. Stand-ins are not kept (they
    refer to the recording: a cycle that only the garbage collector would free)."""
    found: List[Tensor] = []
    for value in values:
        if isinstance(value, Patched):
            continue
        if isinstance(value, Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(_plain_tensors(value))
    return found


def _result(x: Patched, found: Found, patch: Optional[Tensor], tops: Sequence[int],
            lefts: Sequence[int]) -> Any:
    """The operation's result: a new stand-in (a whole one once the patch covers the whole
    map: later operations then run on it directly, batch norms still folded);
    NotImplemented (run as usual) when ``found`` is None."""
    if found is None:
        return NotImplemented
    record, value = found
    if patch is not None and tuple(patch.shape[-2:]) == tuple(record.shape[-2:]):
        tops = lefts = [0] * x.copies
    return Patched.make(record, value, patch, tops, lefts, x.copies, x.recording)


def _pair(value: Any) -> Tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _windowed(found: Found, x: Patched, kernel: Tuple[int, int], stride: Tuple[int, int],
              padding: Tuple[int, int], dilation: Tuple[int, int], fill: float,
              run: Callable[[Tensor, Tuple[int, int]], Tensor]) -> Any:
    """A sliding-window operation on ``x`` whose record is ``found``: ``run(values,
    padding)`` applies it, to the input regions of the changed outputs without padding, or to
    a whole patch with the operation's own padding."""
    if found is None:
        return NotImplemented
    if x.patch is None:
        x.values()  # later passes read regions of it
        return _result(x, found, None, x.tops, x.lefts)
    if x.whole:
        return _result(x, found, run(x.patch, padding), x.tops, x.lefts)
    ho, wo = found[0].shape[-2:]
    s, t = x.box
    out_tops, _, region_tops, region_h = window_box(
        x.tops, s, kernel[0], stride[0], padding[0], dilation[0], ho)
    out_lefts, _, region_lefts, region_w = window_box(
        x.lefts, t, kernel[1], stride[1], padding[1], dilation[1], wo)
    patch = run(x.region(region_tops, region_h, region_lefts, region_w, fill), (0, 0))
    return _result(x, found, patch, out_tops, out_lefts)


def _conv2d(func: Any, args: Sequence[Any], kwargs: Dict[str, Any]) -> Any:
    """A 2-D convolution on patches; when the recording saw its output read only by an
    eval-mode batch norm, that norm is folded into the weights (one pass instead of two)."""
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
    bound = dict(zip(names, args), **kwargs)
    x, weight, bias = bound["input"], bound["weight"], bound.get("bias")
    padding = bound.get("padding", 0)
    if (not isinstance(x, Patched) or isinstance(weight, Patched)
            or isinstance(bias, Patched) or isinstance(padding, str)):
        return NotImplemented
    stride, dilation = _pair(bound.get("stride", 1)), _pair(bound.get("dilation", 1))
    groups = bound.get("groups", 1)
    kernel = (int(weight.shape[-2]), int(weight.shape[-1]))
    found = _output(func, args, kwargs, x)
    fold = (x.recording.folded_batch_norm(found[0].serial, weight, bias)
            if found is not None and x.patch is not None else None)
    used_weight, used_bias = (fold[1], fold[2]) if fold is not None else (weight, bias)

    def run(values: Tensor, pad: Tuple[int, int]) -> Tensor:
        laid_out = x.recording.laid_out_weight(used_weight, values)
        with torch._C.DisableTorchFunctionSubclass():
            out = F.conv2d(values, laid_out, used_bias, stride, pad, dilation, groups)
        x.recording.macs_done += out.numel() * weight[0].numel()
        n, _, h, w = x.full_shape
        whole = [(size + 2 * p - dil * (k - 1) - 1) // st + 1
                 for size, p, dil, k, st in zip((h, w), _pair(padding), dilation, kernel,
                                                stride)]
        x.recording.macs_whole += (n * x.copies * weight.shape[0] * whole[0] * whole[1]
                                   * weight[0].numel())
        return out

    result = _windowed(found, x, kernel, stride, _pair(padding), dilation, 0.0, run)
    if fold is not None and isinstance(result, Patched):
        result.applied = fold[0]
    return result


def _max_pool2d(func: Any, args: Sequence[Any], kwargs: Dict[str, Any]) -> Any:
    names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
             "return_indices")
    bound = dict(zip(names, args), **kwargs)
    x = bound["input"]
    if not isinstance(x, Patched) or bound.get("ceil_mode") or bound.get("return_indices"):
        return NotImplemented
    kernel = _pair(bound["kernel_size"])
    stride = _pair(bound.get("stride") or kernel)
    padding, dilation = _pair(bound.get("padding", 0)), _pair(bound.get("dilation", 1))

    def run(values: Tensor, pad: Tuple[int, int]) -> Tensor:
        with torch._C.DisableTorchFunctionSubclass():
            return F.max_pool2d(values, kernel, stride, pad, dilation)

    return _windowed(_output(func, args, kwargs, x), x, kernel, stride, padding, dilation,
                     -math.inf, run)


def _adaptive_avg_pool2d(func: Any, args: Sequence[Any], kwargs: Dict[str, Any]) -> Any:
    """Global average pooling: the pooled unperturbed value plus each copy's change inside
    its box, ``(sum(patch) - sum(base in the box)) / (H*W)``; an ordinary tensor."""
    x = args[0] if args else kwargs.get("input")
    size = args[1] if len(args) > 1 else kwargs.get("output_size")
    if not isinstance(x, Patched) or size is None or _pair(size) != (1, 1):
        return NotImplemented
    found = _output(func, args, kwargs, x)
    if found is None:
        return NotImplemented
    base = x.values()
    record, pooled = found
    if record.value is None and pooled is not None:  # every pass starts from it
        record.value = pooled
    if x.patch is None:
        return _result(x, found, None, x.tops, x.lefts)
    if x.whole:
        with torch._C.DisableTorchFunctionSubclass():
            return F.adaptive_avg_pool2d(x.patch, size)
    n, _, h, w = x.full_shape
    s, t = x.box
    change = x.patch.sum((2, 3), keepdim=True)
    for k, (top, left) in enumerate(zip(x.tops, x.lefts)):
        change[k * n:(k + 1) * n] -= base[:, :, top:top + s, left:left + t].sum(
            (2, 3), keepdim=True)
    assert record.value is not None
    return record.value.repeat(x.copies, 1, 1, 1) + change / (h * w)


def _batch_norm(func: Any, args: Sequence[Any], kwargs: Dict[str, Any]) -> Any:
    """Batch norm in eval mode: point-wise; passes the patch on when it was folded into the
    convolution before it."""
    names = ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum",
             "eps")
    bound = dict(zip(names, args), **kwargs)
    x = bound["input"]
    if (not isinstance(x, Patched) or bound.get("training")
            or bound.get("running_mean") is None or bound.get("running_var") is None
            or any(isinstance(v, Patched) for k, v in bound.items() if k != "input")):
        return NotImplemented
    key = _key(func, args, kwargs)
    if x.applied is not None:
        if x.applied != key:
            raise Unrecorded("a convolution's output met another batch norm than recorded")
        found = _output(func, args, kwargs, x)
        if found is None:
            raise Unrecorded("a folded batch norm was not recorded")
        return _result(x, found, x.patch, x.tops, x.lefts)
    if x.patch is None and key not in x.recording.batch_norms:
        x.recording.batch_norms[key] = {
            "running_mean": bound["running_mean"], "running_var": bound["running_var"],
            "weight": bound.get("weight"), "bias": bound.get("bias"),
            "eps": float(bound.get("eps", 1e-5))}
    return _pointwise(func, args, kwargs, x)


def _pointwise(func: Any, args: Sequence[Any], kwargs: Dict[str, Any], x: Patched,
               inplace: bool = False) -> Any:
    """An operation applied position by position (with the other operands the same for
    every position): the unperturbed output from the recording, the patch computed alone."""
    found = _output(func, args, kwargs, x)
    patch = None
    if found is not None and x.patch is not None:
        patch_args = [x.patch if a is x else a for a in args]
        with torch._C.DisableTorchFunctionSubclass():
            patch = func(*patch_args, **kwargs)
    result = _result(x, found, patch, x.tops, x.lefts)
    return _assign(x, result) if inplace else result


def _assign(x: Patched, result: Any) -> Any:
    """``x`` changed in place into ``result`` (a stand-in or a whole tensor)."""
    if result is NotImplemented:
        return result
    if isinstance(result, Patched):
        x._set(result.serial, result.base, result.patch, result.tops, result.lefts,
               result.copies, result.recording)
    else:
        x.patch, x.tops, x.lefts = result, [0] * x.copies, [0] * x.copies
    return x


def _channel_constant(value: Any) -> bool:
    """``value`` is the same at every position of the map (a number, or a tensor that
    broadcasts over H and W without growing the batch)."""
    if isinstance(value, (int, float, bool)):
        return True
    if not isinstance(value, Tensor) or isinstance(value, Patched):
        return False
    return value.dim() <= 1 or (value.dim() <= 4 and tuple(value.shape[-2:]) == (1, 1)
                                and (value.dim() < 4 or value.shape[0] == 1))


def _arithmetic(func: Any, op: str, args: Sequence[Any], kwargs: Dict[str, Any],
                inplace: bool) -> Any:
    if len(args) != 2 or kwargs.get("out") is not None:
        return NotImplemented
    a, b = args
    if func in (Tensor.__radd__, Tensor.__rmul__):
        a, b = b, a
    if isinstance(a, Patched) and isinstance(b, Patched):
        if op not in ("add", "sub") or kwargs or a.copies != b.copies or (inplace and a is b):
            return NotImplemented
        return _sum(op, a, b, inplace)
    x, other = (a, b) if isinstance(a, Patched) else (b, a)
    if not _channel_constant(other) or (inplace and x is not a):
        return NotImplemented
    found = _output(_OPERATORS[op], (a, b), kwargs, x)
    patch = None
    if found is not None and x.patch is not None:
        operands = (x.patch, other) if x is a else (other, x.patch)
        patch = _OPERATORS[op](*operands, **kwargs)
    result = _result(x, found, patch, x.tops, x.lefts)
    return _assign(x, result) if inplace else result


def _sum(op: str, a: Patched, b: Patched, inplace: bool) -> Any:
    """``a + b`` or ``a - b`` of two stand-ins: on the union of their boxes."""
    found = _output(_OPERATORS[op], (a, b), {}, a)
    if found is None:
        return NotImplemented
    a.values(), b.values()  # the regions read them
    patch, tops, lefts = None, a.tops, a.lefts
    if a.patch is not None or b.patch is not None:
        h, w = a.full_shape[-2:]
        sa = a.box if a.patch is not None else (0, 0)
        sb = b.box if b.patch is not None else (0, 0)
        tops, height = union_box(a.tops, sa[0], b.tops, sb[0], h)
        lefts, width = union_box(a.lefts, sa[1], b.lefts, sb[1], w)
        left_values = a.region(tops, height, lefts, width)
        right_values = b.region(tops, height, lefts, width)
        with torch._C.DisableTorchFunctionSubclass():
            patch = _OPERATORS[op](left_values, right_values)
    result = _result(a, found, patch, tops, lefts)
    return _assign(a, result) if inplace else result


def _handle(func: Any, args: Sequence[Any], kwargs: Dict[str, Any]) -> Any:
    if func is F.conv2d:
        return _conv2d(func, args, kwargs)
    if func is F.batch_norm:
        return _batch_norm(func, args, kwargs)
    if func is F.max_pool2d:
        return _max_pool2d(func, args, kwargs)
    if func is F.adaptive_avg_pool2d:
        return _adaptive_avg_pool2d(func, args, kwargs)
    x = args[0] if args else None
    if func in _POINTWISE and isinstance(x, Patched) and not any(
            isinstance(a, Patched) for a in list(args[1:]) + list(kwargs.values())):
        if len(args) > 1 and isinstance(args[-1], bool) and func in _INPLACE_FLAG:
            return NotImplemented  # an ``inplace`` flag passed by position
        inplace = bool(kwargs.get("inplace"))
        if inplace:
            kwargs = dict(kwargs, inplace=False)
        return _pointwise(func, args, kwargs, x, inplace=inplace)
    if func in _POINTWISE_INPLACE and isinstance(x, Patched) and len(args) == 1 and not kwargs:
        return _pointwise(_POINTWISE_INPLACE[func], args, kwargs, x, inplace=True)
    if func in _ARITHMETIC:
        return _arithmetic(func, _ARITHMETIC[func], args, kwargs, inplace=False)
    if func in _ARITHMETIC_INPLACE:
        return _arithmetic(func, _ARITHMETIC_INPLACE[func], args, kwargs, inplace=True)
    return NotImplemented


class IncrementalRows:
    """Turns the rows of the perturbation engine into :class:`Patched` stand-ins.

    The first call (the engine's unperturbed forward, one copy) is recorded; later calls get,
    for their ``K`` copies, one box per copy around the elements that differ from the
    recorded rows (all copies' boxes of one common size). Only a single 4-D floating-point
    input of at least :data:`MIN_PIXELS` pixels takes part, and a chunk runs as usual when its
    boxes cover more than :data:`MAX_BOX_FRACTION` of the image.
    """

    def __init__(self) -> None:
        self.recording: Optional[Recording] = None
        self.base: Optional[Tensor] = None
        self.input: Optional[Record] = None
        self.active = True

    @staticmethod
    def model_can_take_part(model: Optional[nn.Module]) -> bool:
        """False for models holding TorchScript modules, which read tensors' memory directly
        (stand-ins have none of their own)."""
        return model is not None and not any(
            isinstance(m, torch.jit.ScriptModule) for m in model.modules())

    @staticmethod
    def suitable(rows: Tuple[Tensor, ...]) -> bool:
        return (len(rows) == 1 and rows[0].dim() == 4 and rows[0].is_floating_point()
                and rows[0].shape[-2] * rows[0].shape[-1] >= MIN_PIXELS
                and not rows[0].requires_grad)

    def wrap(self, rows: Tuple[Tensor, ...], copies: int) -> Tuple[Tensor, ...]:
        """The rows to run the model on (``rows`` itself when this chunk runs as usual)."""
        if not self.active or not self.suitable(rows):
            self.active = False
            return rows
        if self.recording is None:
            if copies != 1:
                self.active = False
                return rows
            self.recording = Recording(get_memory_budget() // 2)
            self.base = rows[0]
            found = self.recording.output(("input",), None, lambda: rows[0])
            assert found is not None
            self.input = found[0]
            return (Patched.make(self.input, rows[0], None, [0], [0], 1, self.recording),)
        return self._patched(rows[0], copies)

    def _patched(self, row: Tensor, copies: int) -> Tuple[Tensor, ...]:
        base, record = self.base, self.input
        assert base is not None and record is not None and self.recording is not None
        n = base.shape[0]
        if row.shape[0] != copies * n or row.shape[1:] != base.shape[1:]:
            return (row,)
        h, w = base.shape[-2:]
        changed = (row.view(copies, n, *base.shape[1:]) != base).flatten(1, 2).any(1)
        rows_changed, cols_changed = changed.any(2), changed.any(1)  # (K, H), (K, W)
        spans = [_span(r) for r in rows_changed.tolist()]
        col_spans = [_span(c) for c in cols_changed.tolist()]
        height = max(1, max(hi - lo for lo, hi in spans))
        width = max(1, max(hi - lo for lo, hi in col_spans))
        if height * width > MAX_BOX_FRACTION * h * w:
            return (row,)
        tops = [min(lo, h - height) for lo, _ in spans]
        lefts = [min(lo, w - width) for lo, _ in col_spans]
        patch = _laid_out((copies * n, base.shape[1], height, width), row, None)
        for k, (top, left) in enumerate(zip(tops, lefts)):
            patch[k * n:(k + 1) * n] = row[k * n:(k + 1) * n, :, top:top + height,
                                           left:left + width]
        return (Patched.make(record, record.value, patch, tops, lefts, copies,
                             self.recording),)

    @staticmethod
    def trusted(output: Any, rows: Tuple[Tensor, ...]) -> bool:
        """False when ``output`` (of a run on stand-ins for ``rows``) has a NaN that the rows
        do not explain: something read a stand-in's memory, which holds NaN."""
        if not isinstance(output, Tensor) or not output.is_floating_point():
            return True
        return not bool(output.isnan().any()) or bool(rows[0].isnan().any())

    @staticmethod
    def unwrap(output: Any) -> Any:
        """A model output as an ordinary tensor (a model may return its patched input)."""
        return output.materialize() if isinstance(output, Patched) else output


def _span(flags: List[bool]) -> Tuple[int, int]:
    """``[first, last + 1)`` of the True entries (``(0, 0)`` when none is)."""
    if True not in flags:
        return 0, 0
    return flags.index(True), len(flags) - flags[::-1].index(True)
