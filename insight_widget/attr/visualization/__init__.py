"""Static visualisations of attributions: matplotlib figures for images and time series, HTML
for text, one module per modality (``image``, ``timeseries``, ``text``; what they share is
in ``_common``). Same functions, arguments, defaults and output as ``captum.attr.visualization``
(0.9.0), with these fixes (each off the default path, or a repair of a Captum failure):

* **Arrays**: numpy arrays or torch tensors (detached, moved to the CPU). Images may be
  greyscale (H, W), (H, W, 1), channel-last (H, W, C) or channel-first (C, H, W), with or
  without a leading batch dimension of 1. Rule: a 3-D array is channel-first when its first
  dimension is 1, 3 or 4 and its last is not (so (3, 224, 224) is CHW, (224, 224, 3) HWC, and
  ambiguous shapes such as (3, 5, 3) keep Captum's HWC reading). ``attr`` and
  ``original_image`` must then agree in height and width (``ValueError`` otherwise).
* **Original images outside Captum's ranges** (captum#1098): Captum shows floats in [0, 1] and
  integers in [0, 255] correctly and clips anything else (standardised images turn black and
  white). Those two cases are drawn exactly as Captum draws them; otherwise non-negative floats
  up to 255 are read on the 0..255 scale and any other colour image is rescaled min..max to
  the display range; a greyscale image with negative values is shown through its colour map
  unclipped. ``original_range=(low, high)`` maps a known value range to the display range.
* **Single-channel originals** (captum#372): ``original_cmap`` picks their colour map
  (default: matplotlib's, as Captum).
* **Shared or absolute scale** (captum#1103): Captum divides each map by its own
  ``outlier_perc`` threshold. ``vmax=`` divides by a given value instead, so several images
  share one scale (see :func:`attribution_scale` for a common threshold over many maps); the
  colour bar then reads in attribution units.
* **Degenerate input**: all-zero attributions (for the chosen sign) draw an empty map with a
  warning instead of Captum's ``AssertionError``; ``outlier_perc=0`` no longer raises
  ``IndexError``; greyscale originals work with every method.
* **Text**: :func:`visualize_text` escapes every token and label (captum#1226: Captum inserts
  them into the HTML verbatim) and returns the ``IPython.display.HTML`` object.
* **Bad input**: unknown ``method``/``sign`` strings, mismatched shapes and empty token lists
  raise ``ValueError`` naming the argument (Captum asserts or fails later).
"""

from ._common import VisualizeSign, attribution_scale
from .image import (
    ImageVisualizationMethod,
    draw_mask_border,
    draw_mask_legend,
    visualize_image_attr,
    visualize_image_attr_multiple,
)
from .text import (
    VisualizationDataRecord,
    format_classname,
    format_special_tokens,
    format_tooltip,
    format_word_importances,
    visualize_text,
)
from .timeseries import TimeseriesVisualizationMethod, visualize_timeseries_attr

__all__ = [
    "ImageVisualizationMethod",
    "TimeseriesVisualizationMethod",
    "VisualizationDataRecord",
    "VisualizeSign",
    "attribution_scale",
    "draw_mask_border",
    "draw_mask_legend",
    "format_classname",
    "format_special_tokens",
    "format_tooltip",
    "format_word_importances",
    "visualize_image_attr",
    "visualize_image_attr_multiple",
    "visualize_text",
    "visualize_timeseries_attr",
]
