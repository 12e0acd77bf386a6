"""What every layer algorithm shares: the layer list, argument checks, result formatting."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

from torch import nn

from .._utils.layer_hooks import layers_as_list
from .._utils.validation import check_bool, describe


def layer_modules(layer: Any) -> Tuple[List[nn.Module], bool]:
    """``(modules, was_list)`` of an algorithm's ``layer`` argument."""
    return layers_as_list(layer)


def single_layer(layer: Any, algorithm: str) -> nn.Module:
    """The layer of an algorithm that explains exactly one layer."""
    if not isinstance(layer, nn.Module):
        raise TypeError(
            f"`layer` of {algorithm} must be one torch.nn.Module of the model; got "
            f"{describe(layer)}."
        )
    return layer


def check_grad_kwargs(grad_kwargs: Any) -> Optional[dict]:
    """``grad_kwargs`` are keyword arguments for ``torch.autograd.grad`` (or None)."""
    if grad_kwargs is not None and not isinstance(grad_kwargs, dict):
        raise TypeError(f"`grad_kwargs` must be a dict or None; got {describe(grad_kwargs)}.")
    return grad_kwargs


def check_flags(**flags: Any) -> None:
    """Every keyword must be a bool (named in the error)."""
    for name, value in flags.items():
        check_bool(name, value)


ForwardFunc = Callable[..., Any]
