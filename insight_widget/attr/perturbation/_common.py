"""What the perturbation methods share beyond the engine: argument preparation and futures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from .._utils.feature_mask import FeatureMasks, format_feature_mask
from .._utils.inputs import expand_baselines, format_baselines
from .._utils.perturbation import RowEvaluator, input_evaluator
from .._utils.prepare import PreparedCall, prepare_call
from .._utils.validation import check_bool


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
) -> PerturbationCall:
    """Validate the arguments every perturbation method shares."""
    check_bool("show_progress", show_progress)
    call = prepare_call(inputs, target, additional_forward_args)
    expanded = expand_baselines(format_baselines(baselines, call.inputs), call.inputs)
    masks = (format_feature_mask(feature_mask, call.inputs, allow_negative=allow_negative_ids)
             if use_mask else None)
    return PerturbationCall(call, expanded, masks,
                            input_evaluator(forward_func, call.target, call.args))


def resolve_future(output: Any) -> Any:
    """The value of ``output`` when the model returned a ``torch.futures.Future``."""
    return output.wait() if isinstance(output, torch.futures.Future) else output


def waiting(forward_func: Callable[..., Any]) -> Callable[..., Any]:
    """``forward_func`` that waits for the futures it returns (for ``attribute_future``)."""

    def forward(*args: Any) -> Any:
        return resolve_future(forward_func(*args))

    forward.model = forward_func  # type: ignore[attr-defined]
    return forward


def completed_future(value: Any) -> torch.futures.Future:
    """A ``torch.futures.Future`` already holding ``value``."""
    future: torch.futures.Future = torch.futures.Future()
    future.set_result(value)
    return future


def progress_title(method: Any) -> str:
    """Captum's progress-bar title: "<readable class name> attribution"."""
    return f"{method.get_name()} attribution"
