"""The first step of every ``attribute`` call: format and validate the common arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

from torch import Tensor

from .forward import warn_if_not_finite
from .inputs import check_floating, format_additional_forward_args, format_inputs
from .target import Target, format_target


@dataclass(frozen=True)
class PreparedCall:
    """Formatted ``inputs`` (tuple), whether the caller passed a tuple, the validated target,
    the additional forward arguments (tuple or None) and the number of examples N."""

    inputs: Tuple[Tensor, ...]
    was_tuple: bool
    target: Target
    args: Optional[Tuple[Any, ...]]
    num_examples: int


def prepare_call(
    inputs: Any,
    target: Any = None,
    additional_forward_args: Any = None,
    gradients_of: Optional[str] = None,
    same_batch: bool = True,
) -> PreparedCall:
    """Validate the arguments every algorithm shares.

    ``gradients_of`` names the method when it differentiates w.r.t. the inputs, which then
    must be floating point. Inputs holding NaN/inf raise a warning naming the input.
    ``same_batch=False`` lets the inputs' batch sizes differ (see :func:`format_inputs`); N is
    then the first input's.
    """
    formatted, was_tuple = format_inputs(inputs, same_batch=same_batch)
    if gradients_of is not None:
        check_floating(formatted, gradients_of)
    warn_if_not_finite(formatted, "inputs")
    n = formatted[0].shape[0]
    return PreparedCall(formatted, was_tuple, format_target(target, n),
                        format_additional_forward_args(additional_forward_args), n)
