"""The visualiser: features, batches, the method registry, the compute session, the wire and
the anywidget (see DESIGN.md, "Wire between Python and the front end")."""

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
    "MethodSpec",
    "OutputScore",
    "TextFeature",
    "TimeSeriesFeature",
    "VisualizationOutput",
    "find_method",
]
