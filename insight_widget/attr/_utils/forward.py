"""Running the model: forward passes, target selection and input gradients.

All algorithms evaluate the model through these functions, so target handling, output checks
(one value per example, finite numbers) and gradient set-up live in one place.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .inputs import forward_arguments
from .target import Target, format_target
from .validation import describe


def as_output_tensor(output: Any) -> Tensor:
    """The model's output as a tensor: numbers become 0-d tensors, a Python float in float64
    (its own precision, and Captum's dtype), an int in int64."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, float):
        return torch.tensor(output, dtype=torch.float64)
    if isinstance(output, int):
        return torch.tensor(output)
    if isinstance(output, torch.Future):
        raise TypeError(
            "`forward_func` returned a torch.futures.Future; `attribute` needs the output "
            "itself. Call `attribute_future` (FeatureAblation, FeaturePermutation, "
            "ShapleyValueSampling, ShapleyValues) for models that return futures."
        )
    raise TypeError(
        "`forward_func` must return a torch.Tensor (or a number); got "
        f"{describe(output)}. Wrap models that return tuples or dicts so they return the "
        "tensor to explain."
    )


def run_forward(
    forward_func: Callable[..., Any],
    inputs: Sequence[Tensor],
    target: Any = None,
    additional_forward_args: Optional[Tuple[Any, ...]] = None,
) -> Tensor:
    """``forward_func(*inputs, *additional_forward_args)`` with ``target`` selected."""
    return select_output(forward_func(*forward_arguments(inputs, additional_forward_args)),
                         target)


def select_output(output: Any, target: Any = None) -> Tensor:
    """The ``target`` part of a model output (a tensor or a number)."""
    return format_target(target).select(as_output_tensor(output))


class PendingOutput:
    """The targeted output of a model call that returned a ``torch.futures.Future``
    (``attribute_future``): :meth:`wait` waits for the model and selects the target then, so
    a bad target raises its own error in the caller's thread."""

    def __init__(self, future: torch.Future, target: Any) -> None:
        self.future = future
        self.target = target

    def wait(self) -> Tensor:
        return select_output(self.future.wait(), self.target)


def check_one_value_per_example(selected: Tensor, target: Target) -> None:
    """Gradients need one scalar per example; say so when the target leaves several."""
    if selected.dim() > 1 and selected[0].numel() != 1:
        hint = ("pass `target` to choose one" if target.kind == "none"
                else "the target indexes fewer dimensions than the output has")
        raise ValueError(
            "the model output must reduce to one value per example for gradient attribution, "
            f"but the selected output has shape {tuple(selected.shape)}; {hint}."
        )


def input_gradients(
    forward_func: Callable[..., Any],
    inputs: Sequence[Tensor],
    target: Any = None,
    additional_forward_args: Optional[Tuple[Any, ...]] = None,
    reference_rows: Optional[Sequence[Tensor]] = None,
) -> Tuple[Tuple[Tensor, ...], Tensor]:
    """Gradients of the targeted output w.r.t. each input, and the targeted output itself.

    Returns ``(grads, outputs)``: ``grads[i]`` has the shape of ``inputs[i]``; ``outputs`` is
    the detached selected output (shape (N,) or (N, 1), or 0-d for a model that aggregates the
    batch). Each row's gradient is d output_row / d input_row because rows are independent.
    The caller's tensors are not modified: gradients are taken on detached aliases.

    ``reference_rows`` (DeepLift family): constant rows stacked under each input, so the model
    sees ``[inputs[i]; reference_rows[i]]`` (the stacked tensor is an intermediate of the
    graph, not a leaf); ``target`` and ``additional_forward_args`` must then cover all rows,
    ``outputs`` holds every row, and ``grads`` are w.r.t. the input rows only.
    """
    target = format_target(target)
    with torch.enable_grad():
        leaves = tuple(x.detach().requires_grad_() for x in inputs)
        model_inputs = leaves if reference_rows is None else tuple(
            torch.cat([leaf, reference.detach()]) for leaf, reference in zip(leaves,
                                                                             reference_rows))
        selected = run_forward(forward_func, model_inputs, target, additional_forward_args)
        check_one_value_per_example(selected, target)
        if not selected.requires_grad:
            raise ValueError(
                "the model output does not depend on `inputs` through differentiable "
                "operations (it has no gradient); check that the model does not detach or "
                "round its inputs."
            )
        # d(sum)/d(row) = 1 for every row, as ones as grad_outputs would give; the sum also
        # serves the finiteness check of the outputs below.
        total = selected.sum()
        grads = torch.autograd.grad(total, leaves, allow_unused=True)
    grads = tuple(torch.zeros_like(x) if g is None else g for g, x in zip(grads, leaves))
    selected = selected.detach()
    report_nonfinite_output(forward_func, selected, model_inputs, additional_forward_args,
                            total.detach())
    return grads, selected


def warn_if_not_finite(tensors: Sequence[Tensor], what: str) -> None:
    """Warn (naming the tensor) when ``tensors`` hold NaN or infinity."""
    for index, tensor in enumerate(tensors):
        # NaN/inf make the sum non-finite, so a finite sum (one reduction, no mask tensor)
        # proves the tensor finite; only a non-finite sum (or an overflow) needs the full check.
        if (tensor.is_floating_point() and not math.isfinite(float(tensor.sum()))
                and not bool(torch.isfinite(tensor).all())):
            label = f"{what}[{index}]" if len(tensors) > 1 else what
            warnings.warn(
                f"{label} contains NaN or infinite values; attributions computed from it are "
                "not meaningful.",
                RuntimeWarning,
                stacklevel=3,
            )


def first_module_with_nonfinite_output(
    model: nn.Module, inputs: Sequence[Tensor], args: Optional[Tuple[Any, ...]]
) -> Optional[str]:
    """Name of the first submodule whose output is not finite, found by one diagnostic pass.

    Only run after a non-finite output has been seen, so the common path pays nothing.
    """
    from .hooks import HookSet

    found: list = []
    names = {module: name for name, module in model.named_modules()}

    def record(module: nn.Module, _inputs: Any, output: Any) -> None:
        if (not found and isinstance(output, Tensor) and output.is_floating_point()
                and not bool(torch.isfinite(output).all())):
            found.append(names.get(module) or type(module).__name__)

    with HookSet() as hooks, torch.no_grad():
        for module in names:
            if module is not model:
                hooks.add(module.register_forward_hook(record))
        model(*forward_arguments(inputs, args))
    return found[0] if found else None


def report_nonfinite_output(
    forward_func: Callable[..., Any],
    output: Tensor,
    inputs: Sequence[Tensor],
    args: Optional[Tuple[Any, ...]],
    total: Optional[Tensor] = None,
) -> None:
    """Warn when the model output is not finite, naming the first module that produced it.

    ``total`` is ``output.sum()`` when the caller has it: a finite sum proves every value
    finite (NaN/inf propagate), so only a non-finite sum (or an overflow) needs the full check.
    """
    if not output.is_floating_point():
        return
    if math.isfinite(float(output.sum() if total is None else total)):
        return
    if bool(torch.isfinite(output).all()):
        return
    where = ""
    model = module_of(forward_func)
    if model is not None:
        name = first_module_with_nonfinite_output(model, inputs, args)
        if name:
            where = f" (first produced by module '{name}')"
    warnings.warn(
        f"the model output contains NaN or infinite values{where}; attributions computed from "
        "it are not meaningful.",
        RuntimeWarning,
        stacklevel=3,
    )


def module_of(forward_func: Callable[..., Any]) -> Optional[nn.Module]:
    """The ``nn.Module`` behind ``forward_func`` (the module or its bound ``forward``), if any."""
    if isinstance(forward_func, nn.Module):
        return forward_func
    owner = getattr(forward_func, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def rows_are_independent(forward_func: Callable[..., Any]) -> bool:
    """True when stacking examples into one batch cannot change any example's output.

    That holds for an ``nn.Module`` (or its bound method) with every submodule in eval mode
    (no batch statistics, no dropout). For arbitrary callables we cannot tell, so callers keep
    separate passes where Captum does.
    """
    model = module_of(forward_func)
    return model is not None and not any(m.training for m in model.modules())


def forward_pair(
    forward_func: Callable[..., Any],
    first: Sequence[Tensor],
    second: Sequence[Tensor],
    target: Target,
    args: Optional[Tuple[Any, ...]],
) -> Tuple[Tensor, Tensor]:
    """Targeted outputs of two same-shaped batches, without autograd.

    When rows are independent the two batches share one forward pass (2N rows); otherwise two
    passes, as Captum does.
    """
    from .inputs import expand_additional_forward_args

    n = first[0].shape[0]
    with torch.no_grad():
        if rows_are_independent(forward_func):
            stacked = tuple(torch.cat([a, b]) for a, b in zip(first, second))
            output = run_forward(forward_func, stacked, target.repeat(2),
                                 expand_additional_forward_args(args, 2))
            if output.dim() > 0 and output.shape[0] == 2 * n:
                return output[:n], output[n:]
        return (run_forward(forward_func, first, target, args),
                run_forward(forward_func, second, target, args))
