"""What the neuron algorithms share: argument checks for the layer (one layer, as the layer
family checks it: :func:`single_layer`) and the selector."""

from __future__ import annotations

from typing import Any

from .._utils.neuron_selector import NeuronSelector, format_neuron_selector
from .._utils.validation import check_bool
from ..layer._common import single_layer


def prepare_neuron(neuron_selector: Any, attribute_to_neuron_input: Any) -> NeuronSelector:
    """Validate the two arguments every neuron method takes."""
    check_bool("attribute_to_neuron_input", attribute_to_neuron_input)
    return format_neuron_selector(neuron_selector)


__all__ = ["prepare_neuron", "single_layer"]
