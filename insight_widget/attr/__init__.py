"""insight_widget.attr: a Captum-compatible attribution engine.

``from captum.attr import X`` becomes ``from insight_widget.attr import X``: same class names,
constructor arguments, ``attribute()`` parameters, defaults and return shapes. Each family
package lists its public names in ``__all__``; this module re-exports them all.
"""

from . import embeddings, gradient, layer, llm, lrp, neuron, perturbation, summary, visualization
from ._utils.batching import get_memory_budget, memory_budget, set_memory_budget
from ._utils.progress import AttributionCancelled, attribution_progress
from .base import (
    Attribution,
    GradientAttribution,
    LayerAttribution,
    NeuronAttribution,
    PerturbationAttribution,
)
from .embeddings import *  # noqa: F403
from .gradient import *  # noqa: F403
from .layer import *  # noqa: F403
from .llm import *  # noqa: F403
from .lrp import *  # noqa: F403
from .neuron import *  # noqa: F403
from .perturbation import *  # noqa: F403
from .summary import *  # noqa: F403

__all__ = [
    "Attribution",
    "AttributionCancelled",
    "GradientAttribution",
    "LayerAttribution",
    "NeuronAttribution",
    "PerturbationAttribution",
    "attribution_progress",
    "get_memory_budget",
    "memory_budget",
    "set_memory_budget",
    "visualization",
    *gradient.__all__,
    *perturbation.__all__,
    *layer.__all__,
    *neuron.__all__,
    *lrp.__all__,
    *summary.__all__,
    *embeddings.__all__,
    *llm.__all__,
]
