"""Formatting and validation of ``inputs``, ``baselines`` and ``additional_forward_args``.

Every algorithm accepts ``inputs`` as a tensor or a tuple of tensors (dimension 0 is the batch of
N examples) and returns its attributions in the same form. Internally everything is a tuple;
:func:`format_inputs` and :func:`restore_format` convert at the boundary. Baselines follow
Captum's forms: ``None`` (zeros), a number, a tensor shaped like the input, like one example
(batch dimension 1 or absent) or broadcastable per example, or a tuple of those, one per input.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Literal, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from .validation import describe, is_number

Baseline = Union[Tensor, int, float]
ExpansionMode = Literal["repeat", "repeat_interleave"]


def format_inputs(inputs: Any, name: str = "inputs",
                  same_batch: bool = True) -> Tuple[Tuple[Tensor, ...], bool]:
    """Return ``(tuple_of_tensors, was_tuple)``.

    Raises ``TypeError`` unless ``inputs`` is a tensor or a non-empty tuple of tensors, and
    ``ValueError`` unless every tensor has a batch dimension, of the same size unless
    ``same_batch`` is False (perturbation methods accept e.g. a list of sparse feature ids of
    any length next to the examples, as Captum does).
    """
    if isinstance(inputs, Tensor):
        formatted, was_tuple = (inputs,), False
    elif isinstance(inputs, tuple) and len(inputs) > 0 and all(
        isinstance(t, Tensor) for t in inputs
    ):
        formatted, was_tuple = inputs, True
    else:
        raise TypeError(
            f"`{name}` must be a torch.Tensor or a non-empty tuple of torch.Tensor; "
            f"got {describe(inputs)}."
        )
    for index, tensor in enumerate(formatted):
        if tensor.dim() == 0:
            raise ValueError(
                f"`{name}`[{index}] must have a batch dimension (dim 0); got a 0-d tensor."
            )
    sizes = {t.shape[0] for t in formatted}
    if same_batch and len(sizes) > 1:
        raise ValueError(
            f"every tensor in `{name}` must have the same batch size (dim 0); got sizes "
            f"{[t.shape[0] for t in formatted]}."
        )
    return formatted, was_tuple


def restore_format(values: Sequence[Tensor], was_tuple: bool) -> Union[Tensor, Tuple[Tensor, ...]]:
    """Inverse of :func:`format_inputs`: a tuple when the caller passed one, else the tensor."""
    return tuple(values) if was_tuple else values[0]


def batch_size(inputs: Tuple[Tensor, ...]) -> int:
    """Number of examples N (dimension 0) of formatted inputs."""
    return inputs[0].shape[0]


def check_floating(inputs: Tuple[Tensor, ...], method: str) -> None:
    """Gradient methods differentiate w.r.t. the inputs, so they must be floating point."""
    for index, tensor in enumerate(inputs):
        if not (tensor.is_floating_point() or tensor.is_complex()):
            raise TypeError(
                f"`inputs`[{index}] must be a floating-point tensor for {method} (it takes "
                f"gradients with respect to it); got dtype {tensor.dtype}. For token ids, "
                "attribute to the embedding layer with a layer method (e.g. "
                "LayerIntegratedGradients) or use configure_interpretable_embedding_layer."
            )


def _tuple_of(value: Any, count: int, name: str) -> tuple:
    """One entry per input: a tuple of the right length, a lone value for a single input, or a
    number shared by all inputs."""
    if isinstance(value, tuple):
        if len(value) != count:
            raise ValueError(
                f"`{name}` must have one entry per input ({count}); got a tuple of length "
                f"{len(value)}."
            )
        return value
    if count == 1:
        return (value,)
    if is_number(value) or isinstance(value, bool):
        return (value,) * count
    raise ValueError(
        f"`{name}` must be a tuple with one entry per input ({count} inputs); got "
        f"{describe(value)}."
    )


def format_baselines(
    baselines: Any, inputs: Tuple[Tensor, ...], name: str = "baselines"
) -> Tuple[Baseline, ...]:
    """Validate per-example baselines and return one entry (tensor or number) per input.

    Accepted per input: a number; a tensor of the input's shape; a tensor of one example
    (``(1, *input.shape[1:])`` or ``input.shape[1:]``); anything broadcastable to the input
    with the same number of dimensions. ``None`` means zero for every input.
    """
    if baselines is None:
        return (0,) * len(inputs)
    entries = _tuple_of(baselines, len(inputs), name)
    formatted = []
    for index, (entry, tensor) in enumerate(zip(entries, inputs)):
        label = f"`{name}`[{index}]" if len(inputs) > 1 else f"`{name}`"
        if is_number(entry) or isinstance(entry, bool):  # bool: for bool inputs (Captum's)
            formatted.append(entry)
            continue
        if not isinstance(entry, Tensor):
            raise TypeError(
                f"{label} must be a number, a bool or a torch.Tensor; got {describe(entry)}."
            )
        if entry.dim() == tensor.dim() - 1 and entry.shape == tensor.shape[1:]:
            entry = entry.unsqueeze(0)
        if entry.dim() != tensor.dim() or not _broadcastable(entry.shape, tensor.shape):
            raise ValueError(
                f"{label} must be a number, a tensor shaped like the input {tuple(tensor.shape)}, "
                f"or one example {(1, *tensor.shape[1:])} (broadcastable); got shape "
                f"{tuple(entry.shape)}."
            )
        formatted.append(entry)
    return tuple(formatted)



def path_baselines(baselines: Any, inputs: Tuple[Tensor, ...]) -> Tuple[Baseline, ...]:
    """:func:`format_baselines` for a straight-line path: tensor baselines cast to their
    input's dtype and device; number baselines stay numbers (the path and the final
    ``x - x'`` product need no tensor of them)."""
    return tuple(b.to(dtype=x.dtype, device=x.device) if isinstance(b, Tensor) else b
                 for b, x in zip(format_baselines(baselines, inputs), inputs))

def format_baseline_distribution(
    baselines: Any, inputs: Tuple[Tensor, ...], inputs_as_given: Any, name: str = "baselines",
    same_count: bool = True,
) -> Tuple[Tensor, ...]:
    """Baselines drawn from a distribution (DeepLiftShap, GradientShap): B reference examples.

    ``baselines`` is a tensor or tuple of tensors whose examples (dim 0, any count B >= 1) match
    the inputs' per-example shapes, or a callable returning that, called with no argument or
    with the inputs (as the caller passed them) depending on its signature. ``same_count``
    requires the same B for every input (methods that pair references across inputs);
    methods drawing a reference per input independently (GradientShap) pass False.
    """
    if callable(baselines) and not isinstance(baselines, Tensor):
        baselines = call_baseline_factory(baselines, inputs_as_given)
    if baselines is None:
        raise ValueError(f"`{name}` is required: pass a tensor (or tuple) of reference examples.")
    entries = _tuple_of(baselines, len(inputs), name)
    formatted = []
    for index, (entry, tensor) in enumerate(zip(entries, inputs)):
        label = f"`{name}`[{index}]" if len(inputs) > 1 else f"`{name}`"
        if is_number(entry):
            entry = torch.full((1, *tensor.shape[1:]), float(entry), dtype=tensor.dtype,
                               device=tensor.device)
        if not isinstance(entry, Tensor):
            raise TypeError(f"{label} must be a torch.Tensor; got {describe(entry)}.")
        if entry.dim() == tensor.dim() - 1 and entry.shape == tensor.shape[1:]:
            entry = entry.unsqueeze(0)
        if entry.dim() != tensor.dim() or entry.shape[1:] != tensor.shape[1:] or entry.shape[0] < 1:
            expected = ", ".join(map(str, tensor.shape[1:]))
            raise ValueError(
                f"{label} must hold reference examples of shape (B, {expected}) matching the "
                f"input; got shape {tuple(entry.shape)}."
            )
        formatted.append(entry)
    sizes = {b.shape[0] for b in formatted}
    if same_count and len(sizes) > 1:
        raise ValueError(
            f"every tensor in `{name}` must have the same number of reference examples; got "
            f"{[b.shape[0] for b in formatted]}."
        )
    return tuple(formatted)


def _broadcastable(source: torch.Size, target: torch.Size) -> bool:
    return all(s == t or s == 1 for s, t in zip(source, target))


def expand_baselines(
    baselines: Sequence[Baseline], inputs: Tuple[Tensor, ...]
) -> Tuple[Tensor, ...]:
    """Materialise formatted baselines as tensors of each input's shape, dtype and device.

    Numbers become ``full_like``; tensors are broadcast (a view, no copy).
    """
    expanded = []
    for baseline, tensor in zip(baselines, inputs):
        if isinstance(baseline, Tensor):
            expanded.append(baseline.to(dtype=tensor.dtype, device=tensor.device).expand_as(tensor))
        else:
            expanded.append(torch.full_like(tensor, float(baseline)))
    return tuple(expanded)


def format_additional_forward_args(args: Any) -> Optional[Tuple[Any, ...]]:
    """``None`` stays ``None``; a tuple is kept; anything else becomes a 1-tuple (Captum's rule)."""
    if args is None:
        return None
    return args if isinstance(args, tuple) else (args,)


def expand_additional_forward_args(
    args: Optional[Tuple[Any, ...]], times: int, mode: ExpansionMode = "repeat"
) -> Optional[Tuple[Any, ...]]:
    """Repeat every tensor argument with a batch dimension ``times`` times along dim 0.

    ``mode="repeat"`` stacks whole copies (step-major rows: copy k holds all N examples);
    ``"repeat_interleave"`` repeats each example in place (example-major rows). Non-tensor
    arguments and 0-d tensors pass through unchanged.
    """
    if args is None or times == 1:
        return args
    return tuple(_expand_tensor(a, times, mode) if isinstance(a, Tensor) and a.dim() > 0 else a
                 for a in args)


def _expand_tensor(tensor: Tensor, times: int, mode: ExpansionMode) -> Tensor:
    if mode == "repeat":
        return tensor.repeat(times, *([1] * (tensor.dim() - 1)))
    return tensor.repeat_interleave(times, dim=0)


def slice_additional_forward_args(
    args: Optional[Tuple[Any, ...]], start: int, stop: int, batch: int
) -> Optional[Tuple[Any, ...]]:
    """Rows ``start:stop`` of every tensor argument whose dim 0 equals ``batch``."""
    if args is None:
        return None
    return tuple(a[start:stop] if isinstance(a, Tensor) and a.dim() > 0 and a.shape[0] == batch
                 else a for a in args)


def forward_arguments(inputs: Sequence[Tensor], args: Optional[Tuple[Any, ...]]) -> Tuple[Any, ...]:
    """Positional arguments of one forward call: the inputs, then the additional arguments."""
    return (*inputs, *args) if args else tuple(inputs)


def call_baseline_factory(factory: Callable[..., Any], inputs_as_given: Any) -> Any:
    """Call a user baseline function with no arguments or with the inputs, by its signature."""
    parameters = inspect.signature(factory).parameters
    return factory() if len(parameters) == 0 else factory(inputs_as_given)
