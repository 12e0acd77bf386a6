"""What the neuron algorithms share: argument checks for the layer and the selector."""

from __future__ import annotations

from typing import Any

from torch import nn

from .._utils.neuron_selector import NeuronSelector, format_neuron_selector
from .._utils.validation import check_bool, describe


def neuron_layer(layer: Any, algorithm: str) -> nn.Module:
    """Neuron methods explain one neuron of one layer."""
    if not isinstance(layer, nn.Module):
        raise TypeError(
            f"`layer` of {algorithm} must be one torch.nn.Module of the model; got "
            f"{describe(layer)}."
        )
    return layer


def prepare_neuron(neuron_selector: Any, attribute_to_neuron_input: Any) -> NeuronSelector:
    """Validate the two arguments every neuron method takes."""
    check_bool("attribute_to_neuron_input", attribute_to_neuron_input)
    return format_neuron_selector(neuron_selector)
