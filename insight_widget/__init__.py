"""insight_widget: model interpretability for PyTorch, made to be seen.

``from captum.insights import AttributionVisualizer, Batch`` and
``from captum.insights.attr_vis.features import ImageFeature, ...`` become
``from insight_widget import AttributionVisualizer, Batch, ImageFeature, ...``.
The attribution engine lives in :mod:`insight_widget.attr`.
"""

from .widget import (
    AttributionVisualizer,
    AudioFeature,
    BaseFeature,
    Batch,
    EmptyFeature,
    GeneralFeature,
    ImageFeature,
    LLMAttributionVisualizer,
    TextFeature,
    TimeSeriesFeature,
)

__version__ = "0.1.0"

__all__ = [
    "AttributionVisualizer",
    "AudioFeature",
    "BaseFeature",
    "Batch",
    "EmptyFeature",
    "GeneralFeature",
    "ImageFeature",
    "LLMAttributionVisualizer",
    "TextFeature",
    "TimeSeriesFeature",
    "__version__",
]
