"""insight_widget.attr: a Captum-compatible attribution engine.

``from captum.attr import X`` becomes ``from insight_widget.attr import X``: same class names,
constructor arguments, ``attribute()`` parameters, defaults and return shapes.
"""

from ._utils.batching import get_memory_budget, memory_budget, set_memory_budget
from .base import (
    Attribution,
    GradientAttribution,
    LayerAttribution,
    NeuronAttribution,
    PerturbationAttribution,
)
from .gradient import *  # noqa: F403
from .gradient import __all__ as _gradient_all

__all__ = [
    "Attribution",
    "GradientAttribution",
    "LayerAttribution",
    "NeuronAttribution",
    "PerturbationAttribution",
    "get_memory_budget",
    "memory_budget",
    "set_memory_budget",
    *_gradient_all,
]
