"""What the layer algorithms share beyond the layer hooks: argument checks."""

from __future__ import annotations

from typing import Any

from torch import nn

from .._utils.validation import check_bool, describe


def single_layer(layer: Any, algorithm: str) -> nn.Module:
    """The layer of an algorithm that explains exactly one layer."""
    if not isinstance(layer, nn.Module):
        raise TypeError(
            f"`layer` of {algorithm} must be one torch.nn.Module of the model; got "
            f"{describe(layer)}."
        )
    return layer


def check_flags(**flags: Any) -> None:
    """Every keyword must be a bool (named in the error)."""
    for name, value in flags.items():
        check_bool(name, value)
