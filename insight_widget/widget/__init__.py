"""The visualiser: features, batches, the method registry, the compute session, the wire and
the anywidget. ``docs/architecture.md`` describes how they fit together: the layers, the wire
format, the threads, how a request flows from a click to the engine and back, and where a new
method or modality goes."""

from .batch import Batch
from .features import (
    AudioFeature,
    BaseFeature,
    EmptyFeature,
    FeatureOutput,
    GeneralFeature,
    ImageFeature,
    TextFeature,
    TimeSeriesFeature,
)
from .insights import OutputScore, VisualizationOutput
from .llm_visualizer import LLMAttributionVisualizer
from .registry import METHODS, Argument, MethodSpec, find_method
from .visualizer import AttributionVisualizer

__all__ = [
    "METHODS",
    "Argument",
    "AttributionVisualizer",
    "AudioFeature",
    "BaseFeature",
    "Batch",
    "EmptyFeature",
    "FeatureOutput",
    "GeneralFeature",
    "ImageFeature",
    "LLMAttributionVisualizer",
    "MethodSpec",
    "OutputScore",
    "TextFeature",
    "TimeSeriesFeature",
    "VisualizationOutput",
    "find_method",
]
