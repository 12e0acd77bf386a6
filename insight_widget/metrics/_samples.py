"""Perturbation samples for the Captum metrics: expansion, chunking and argument following.

``infidelity`` and ``sensitivity_max`` evaluate ``n_perturb_samples`` perturbed copies of each
of the N examples. Rows are laid out **example-major** (example 0's k copies, then example 1's,
...), which is Captum's layout, and the samples are processed in chunks of k samples
(``k x N`` rows) so that ``perturb_func`` sees the same tensors, in the same order, as under
Captum: the random numbers it draws are then the same for the same seed.

Chunks are planned by :func:`._batches.plan_chunks` (Captum's rule for
``max_examples_per_batch``).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Tuple

from torch import Tensor

from ..attr.core import (
    expand_additional_forward_args,
    format_additional_forward_args,
    format_target,
)


def repeat_examples(tensors: Tuple[Tensor, ...], times: int) -> Tuple[Tensor, ...]:
    """Each example repeated ``times`` times in place (example-major rows)."""
    return tuple(t.repeat_interleave(times, dim=0) for t in tensors)


def expand_per_example(value: Any, num_examples: int, times: int) -> Any:
    """Follow the example-major expansion for a baseline-like value (Captum's rule).

    A tensor whose dim 0 holds one entry per example (N > 1) is repeated in place; numbers,
    single-example tensors and tensors without a batch dimension pass through unchanged. A tuple
    is handled entry by entry.
    """
    if isinstance(value, tuple):
        return tuple(expand_per_example(v, num_examples, times) for v in value)
    if (isinstance(value, Tensor) and value.dim() > 0 and num_examples > 1
            and value.shape[0] == num_examples):
        return value.repeat_interleave(times, dim=0)
    return value


def expand_explanation_kwargs(kwargs: Dict[str, Any], num_examples: int, times: int
                              ) -> Dict[str, Any]:
    """The ``explanation_func`` keyword arguments for example-major expanded inputs.

    As in Captum, ``baselines``, ``target`` and ``additional_forward_args`` follow the
    expansion; every other keyword is passed unchanged.
    """
    expanded = dict(kwargs)
    if "baselines" in kwargs:
        baselines = expand_per_example(kwargs["baselines"], num_examples, times)
        expanded["baselines"] = baselines
    if "target" in kwargs:
        target = format_target(kwargs["target"], num_examples)
        expanded["target"] = target.repeat_interleave(times).as_captum_target()
    if kwargs.get("additional_forward_args") is not None:
        args = format_additional_forward_args(kwargs["additional_forward_args"])
        expanded["additional_forward_args"] = expand_additional_forward_args(
            args, times, "repeat_interleave")
    return expanded


def accepts_second_argument(func: Callable[..., Any]) -> bool:
    """Whether ``func`` can be called with two positional arguments (Captum passes baselines /
    the radius to a perturbation function only then)."""
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = any(p.kind == p.VAR_POSITIONAL for p in parameters)
    return variadic or len(positional) > 1
