"""What the perturbation methods share beyond the engine: argument preparation and futures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .._utils.feature_mask import FeatureMasks, format_feature_mask
from .._utils.forward import PendingOutput
from .._utils.inputs import (
    Baseline,
    expand_additional_forward_args,
    format_baselines,
    forward_arguments,
)
from .._utils.perturbation import RowEvaluator, input_evaluator
from .._utils.prepare import PreparedCall, prepare_call
from .._utils.target import Target
from .._utils.validation import check_bool, describe


@dataclass(frozen=True)
class PerturbationCall:
    """A prepared perturbation call: formatted arguments, baselines expanded to the inputs'
    shapes, validated feature masks and the row evaluator of the inputs."""

    call: PreparedCall
    baselines: Tuple[Tensor, ...]
    masks: Optional[FeatureMasks]
    evaluate: RowEvaluator


def prepare_perturbation(
    forward_func: Callable[..., Any],
    inputs: Any,
    baselines: Any = None,
    target: Any = None,
    additional_forward_args: Any = None,
    feature_mask: Any = None,
    show_progress: Any = False,
    use_mask: bool = True,
    allow_negative_ids: bool = True,
    futures: bool = False,
) -> PerturbationCall:
    """Validate the arguments every perturbation method shares. ``futures``: the model returns
    ``torch.futures.Future`` outputs (``attribute_future``)."""
    check_bool("show_progress", show_progress)
    call = prepare_call(inputs, target, additional_forward_args, same_batch=False)
    expanded = perturbation_baselines(baselines, call.inputs)
    masks = (format_feature_mask(feature_mask, call.inputs, allow_negative=allow_negative_ids)
             if use_mask else None)
    evaluate = (future_evaluator(forward_func, call.target, call.args) if futures
                else input_evaluator(forward_func, call.target, call.args, incremental=True))
    return PerturbationCall(call, expanded, masks, evaluate)


def perturbed_dtype(x: Tensor, baseline: Optional[Baseline]) -> torch.dtype:
    """The dtype of ``x`` with elements replaced by ``baseline``: Captum's promotion
    ``torch.result_type(x, baseline)`` (integer inputs ablated with 0.2 become float copies,
    bool inputs with a bool baseline stay bool); ``None`` (the default baseline: zeros of the
    input's dtype) keeps ``x.dtype``. The unperturbed input always keeps its own dtype."""
    return x.dtype if baseline is None else torch.result_type(x, baseline)


def perturbation_baselines(baselines: Any, inputs: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
    """The ``baselines`` argument as tensors broadcast to each input, in the dtype of a
    perturbed copy (:func:`perturbed_dtype`)."""
    formatted: Sequence[Optional[Baseline]] = (
        (None,) * len(inputs) if baselines is None else format_baselines(baselines, inputs))
    expanded = []
    for baseline, x in zip(formatted, inputs):
        dtype = perturbed_dtype(x, baseline)
        if isinstance(baseline, Tensor):
            expanded.append(baseline.to(dtype=dtype, device=x.device).expand_as(x))
        else:
            expanded.append(torch.full(x.shape, baseline or 0, dtype=dtype, device=x.device))
    return tuple(expanded)


def future_evaluator(forward_func: Callable[..., Any], target: Target,
                     args: Optional[Tuple[Any, ...]]) -> RowEvaluator:
    """The :data:`RowEvaluator` of ``attribute_future``: ``forward_func`` returns a
    ``torch.futures.Future`` of its output, and the evaluator a :class:`PendingOutput` of the
    targeted output, so the engine can start every evaluation before waiting for one."""

    def evaluate(rows: Tuple[Tensor, ...], copies: int) -> PendingOutput:
        output = forward_func(*forward_arguments(
            rows, expand_additional_forward_args(args, copies)))
        if not isinstance(output, torch.Future):
            raise TypeError(
                "`attribute_future` needs a forward_func that returns a torch.futures.Future; "
                f"it returned {describe(output)}. Call `attribute` for such models."
            )
        return PendingOutput(output, target.repeat(copies))

    return evaluate


def finished_future(value: Any) -> torch.futures.Future:
    """A ``torch.Future`` (the type Captum's ``attribute_future`` returns) holding ``value``."""
    future: torch.futures.Future = torch.futures.Future()
    future.set_result(value)
    # ``then`` yields the C++-backed torch.Future itself, not the Python subclass.
    return future.then(lambda done: done.value())


def progress_title(method: Any) -> str:
    """Captum's progress-bar title: "<readable class name> attribution"."""
    return f"{method.get_name()} attribution"
