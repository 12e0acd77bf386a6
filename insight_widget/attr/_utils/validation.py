"""Argument checks shared by every public entry point.

Each check raises ``ValueError`` or ``TypeError`` whose message names the argument, what was
expected and what arrived, so a user can fix the call without reading our source.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable, Optional

import torch
from torch import Tensor


def describe(value: Any) -> str:
    """A short human description of ``value`` for error messages."""
    if isinstance(value, Tensor):
        return f"Tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, bool):
        return f"bool {value}"
    if isinstance(value, numbers.Number):
        return f"{type(value).__name__} {value!r}"
    if isinstance(value, str):
        return f"str {value!r}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe(v) for v in list(value)[:3])
        more = ", ..." if len(value) > 3 else ""
        return f"{type(value).__name__} of length {len(value)} [{inner}{more}]"
    if value is None:
        return "None"
    return f"object of type {type(value).__name__}"


def is_int(value: Any) -> bool:
    """True for Python/NumPy integers (bools excluded)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """True for real Python/NumPy numbers (bools excluded)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(name: str, value: Any, minimum: Optional[int] = None) -> int:
    """Return ``value`` as an int, or raise naming ``name`` when it is not one or is too small."""
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = int(value.item())
    if not is_int(value):
        raise TypeError(f"`{name}` must be an int; got {describe(value)}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}; got {value}.")
    return int(value)


def check_optional_int(name: str, value: Any, minimum: Optional[int] = None) -> Optional[int]:
    """Like :func:`check_int` but ``None`` passes through."""
    return None if value is None else check_int(name, value, minimum)


def check_number(name: str, value: Any, minimum: Optional[float] = None) -> float:
    """Return ``value`` as a float, or raise naming ``name``."""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if not is_number(value):
        raise TypeError(f"`{name}` must be a real number; got {describe(value)}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}; got {value}.")
    return float(value)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Raise unless ``value`` is one of ``choices``."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}; got {describe(value)}.")
    return value


def check_bool(name: str, value: Any) -> bool:
    """Raise unless ``value`` is a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool; got {describe(value)}.")
    return value


def check_module(name: str, value: Any, purpose: str) -> torch.nn.Module:
    """Raise a ``TypeError`` unless ``value`` is an ``nn.Module`` (hook-based methods need one)."""
    if not isinstance(value, torch.nn.Module):
        raise TypeError(
            f"`{name}` must be a torch.nn.Module because {purpose}; got {describe(value)}."
        )
    return value


def check_callable(name: str, value: Any) -> Any:
    """Raise unless ``value`` is callable."""
    if not callable(value):
        raise TypeError(f"`{name}` must be callable; got {describe(value)}.")
    return value
