"""Static visualisations of attributions: matplotlib figures for images and time series, HTML
for text. Same functions, arguments, defaults and output as ``captum.attr.visualization``
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

from __future__ import annotations

import html
import warnings
from enum import Enum
from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union

import matplotlib
import numpy as np
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import Colormap, LinearSegmentedColormap, Normalize
from matplotlib.figure import Figure
from mpl_toolkits.axes_grid1 import make_axes_locatable
from torch import Tensor

from ._utils.validation import describe

try:  # IPython is a dependency of the package; keep the module importable without it
    from IPython.display import HTML, display

    HAS_IPYTHON = True
except ImportError:  # pragma: no cover - exercised only without IPython
    HAS_IPYTHON = False


class ImageVisualizationMethod(Enum):
    heat_map = 1
    blended_heat_map = 2
    original_image = 3
    masked_image = 4
    alpha_scaling = 5


class TimeseriesVisualizationMethod(Enum):
    overlay_individual = 1
    overlay_combined = 2
    colored_graph = 3


class VisualizeSign(Enum):
    positive = 1
    absolute_value = 2
    negative = 3
    all = 4


ArrayLike = Any  # numpy array or torch tensor


# ---------------------------------------------------------------------------------------------
# arrays and argument checks
# ---------------------------------------------------------------------------------------------

def _enum_value(enum: type, value: Any, name: str) -> Any:
    choices = [member.name for member in enum]
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}; got {describe(value)}.")
    return enum[value]


def _as_numpy(array: ArrayLike, name: str) -> np.ndarray:
    if isinstance(array, Tensor):
        return array.detach().cpu().numpy()
    if isinstance(array, np.ndarray):
        return array
    raise TypeError(f"`{name}` must be a numpy array or a torch tensor; got {describe(array)}.")


def _channel_first(shape: Tuple[int, ...]) -> bool:
    return shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4)


def _image_array(array: ArrayLike, name: str) -> np.ndarray:
    """An image-shaped array as (H, W) or (H, W, C) (see the module docstring for the rule)."""
    image = _as_numpy(array, name)
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim == 3 and _channel_first(image.shape):
        image = np.transpose(image, (1, 2, 0))
    if image.ndim not in (2, 3):
        raise ValueError(
            f"`{name}` must be an image of shape (H, W), (H, W, C) or (C, H, W); got shape "
            f"{tuple(np.shape(array))}."
        )
    return image


def _check_same_size(attr: np.ndarray, image: np.ndarray) -> None:
    if attr.shape[:2] != image.shape[:2]:
        raise ValueError(
            f"`attr` and `original_image` must have the same height and width; got attr of "
            f"shape {attr.shape} and original_image of shape {image.shape} (after reading "
            "channel-first arrays as channel-last)."
        )


def _clip_to_pixels(image: np.ndarray) -> np.ndarray:
    """Captum's conversion of a 0..255-scaled array to integer pixels."""
    return np.clip(image.astype(int), 0, 255)


def _display_image(image: np.ndarray, original_range: Optional[Tuple[float, float]]
                   ) -> np.ndarray:
    """The original image as it is drawn (see the module docstring)."""
    if original_range is not None:
        low, high = (float(v) for v in original_range)
        if not high > low:
            raise ValueError(f"`original_range` must be (low, high) with high > low; got "
                             f"{original_range!r}.")
        return _clip_to_pixels(np.clip((image - low) / (high - low), 0, 1) * 255)
    if image.dtype == bool:
        image = image.astype(np.uint8)
    low, high = float(np.min(image)), float(np.max(image))
    integer = np.issubdtype(image.dtype, np.integer)
    grey = image.ndim == 2 or image.shape[2] == 1
    if high <= 1 and low >= 0:
        return _clip_to_pixels(image * 255)  # Captum's path for [0, 1] images
    if (integer and low >= 0 and high <= 255) or (grey and high > 1):
        return image  # Captum draws these as they are
    if grey:
        return image.astype(float)  # shown through the colour map, unclipped
    if not integer and low >= 0 and high <= 255:
        return _clip_to_pixels(image)
    span = high - low
    scaled = (image - low) / span if span > 0 else np.zeros(image.shape)
    return _clip_to_pixels(scaled * 255)


def _squeeze_grey(image: np.ndarray) -> np.ndarray:
    return image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image


# ---------------------------------------------------------------------------------------------
# normalisation
# ---------------------------------------------------------------------------------------------

def _cumulative_threshold(values: np.ndarray, percentile: float) -> float:
    """The smallest value v such that the values up to v hold ``percentile`` % of the total
    (Captum's outlier threshold: the top ``100 - percentile`` % of the mass saturates)."""
    ordered = np.sort(values.flatten())
    sums = np.cumsum(ordered)
    above = np.nonzero(sums >= sums[-1] * 0.01 * percentile)[0]
    return float(ordered[above[0]] if above.size else ordered[-1])


def _signed_values(attr: np.ndarray, sign: VisualizeSign, reduce_channels: bool) -> np.ndarray:
    values = np.sum(attr, axis=2) if reduce_channels and attr.ndim == 3 else attr
    if sign == VisualizeSign.all:
        return values
    if sign == VisualizeSign.positive:
        return values * (values > 0)
    if sign == VisualizeSign.negative:
        return -values * (values < 0)
    return np.abs(values)


def _normalize(values: np.ndarray, sign: VisualizeSign, outlier_perc: float,
               vmax: Optional[float]) -> np.ndarray:
    """Values divided by the scale and clipped to [-1, 1] (Captum's normalisation when
    ``vmax`` is None)."""
    if vmax is not None:
        if not vmax > 0:
            raise ValueError(f"`vmax` must be a positive number; got {vmax!r}.")
        scale = float(vmax)
    else:
        scale = _cumulative_threshold(np.abs(values), 100.0 - outlier_perc)
    if scale == 0:
        warnings.warn(
            f"the attributions have no non-zero values for sign '{sign.name}'; drawing an empty "
            "map.",
            UserWarning,
            stacklevel=3,
        )
        return np.zeros(values.shape)
    if abs(scale) < 1e-5:
        warnings.warn(
            "Attempting to normalize by value approximately 0, visualized results may be "
            "misleading. This likely means that attribution values are all close to 0.",
            UserWarning,
            stacklevel=3,
        )
    return np.clip(values / scale, -1, 1)


def attribution_scale(*attrs: ArrayLike, sign: str = "absolute_value",
                      outlier_perc: Union[int, float] = 2) -> float:
    """One scale for several attribution maps: Captum's outlier threshold computed over all of
    them together. Pass it as ``vmax=`` to draw the maps on a shared scale."""
    chosen = _enum_value(VisualizeSign, sign, "sign")
    if not attrs:
        raise ValueError("`attrs` must hold at least one attribution map.")
    values = [np.abs(_signed_values(_image_array(a, "attrs"), chosen, True)).ravel()
              for a in attrs]
    return _cumulative_threshold(np.concatenate(values), 100.0 - outlier_perc)


def _default_cmap(sign: VisualizeSign, cmap: Any) -> Tuple[Any, float]:
    """The colour map and the lower end of the normalised range for ``sign``."""
    if sign == VisualizeSign.all:
        default = LinearSegmentedColormap.from_list("RdWhGn", ["red", "white", "green"])
        return (default if cmap is None else cmap), -1.0
    default = {VisualizeSign.positive: "Greens", VisualizeSign.negative: "Reds",
               VisualizeSign.absolute_value: "Blues"}[sign]
    return (default if cmap is None else cmap), 0.0


def _new_figure(fig_size: Tuple[int, int], use_pyplot: bool) -> Tuple[Figure, Axes]:
    if use_pyplot:
        return plt.subplots(figsize=fig_size)
    figure = Figure(figsize=fig_size)
    return figure, figure.subplots()


# ---------------------------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------------------------

def visualize_image_attr(
    attr: ArrayLike,
    original_image: Optional[ArrayLike] = None,
    method: str = "heat_map",
    sign: str = "absolute_value",
    plt_fig_axis: Optional[Tuple[Figure, Axes]] = None,
    outlier_perc: Union[int, float] = 2,
    cmap: Optional[Union[str, Colormap]] = None,
    alpha_overlay: float = 0.5,
    show_colorbar: bool = False,
    title: Optional[str] = None,
    fig_size: Tuple[int, int] = (6, 6),
    use_pyplot: bool = True,
    *,
    original_cmap: Optional[Union[str, Colormap]] = None,
    vmax: Optional[float] = None,
    original_range: Optional[Tuple[float, float]] = None,
) -> Tuple[Figure, Axes]:
    """Draw an attribution map for an image.

    The attributions are summed over channels, restricted to ``sign`` ("positive",
    "negative" (shown as magnitudes), "absolute_value" or "all") and divided by a scale: by
    default the value above which the top ``outlier_perc`` % of the attribution mass lies
    (those values saturate), or ``vmax``; the result in [-1, 1] (or [0, 1]) is drawn with
    ``method``:

    * ``heat_map``: the map in ``cmap`` (default Greens / Reds / Blues / red-white-green);
    * ``blended_heat_map``: the map with alpha ``alpha_overlay`` over the grey original;
    * ``original_image``: the original only;
    * ``masked_image``: the original multiplied by the map (not for sign "all");
    * ``alpha_scaling``: the original with the map as its alpha channel (not for "all").

    Args:
        attr: (H, W, C), (H, W) or (C, H, W) attributions (array or tensor).
        original_image: the image in the same layout (required except for ``heat_map``).
        method, sign: as above.
        plt_fig_axis: ``(figure, axis)`` to draw into; otherwise a new figure of
            ``fig_size`` (with pyplot when ``use_pyplot``, shown at the end).
        outlier_perc: percentage of the attribution mass that saturates.
        cmap: colour map of the attribution map.
        alpha_overlay: alpha of the map in ``blended_heat_map``.
        show_colorbar: add a horizontal colour bar below (an empty, hidden axis when the
            method draws no map, to keep rows of plots aligned).
        title: axis title.
        fig_size: size of a new figure.
        use_pyplot: create the figure with pyplot and show it; else a bare ``Figure``.
        original_cmap: colour map of single-channel originals (keyword only).
        vmax: scale to divide by instead of the outlier threshold (keyword only).
        original_range: (low, high) value range of the original image (keyword only).

    Returns:
        ``(figure, axis)``.
    """
    chosen_method = _enum_value(ImageVisualizationMethod, method, "method")
    chosen_sign = _enum_value(VisualizeSign, sign, "sign")
    attr_array = _image_array(attr, "attr")
    image = None
    if original_image is not None:
        image = _image_array(original_image, "original_image")
        _check_same_size(attr_array, image)
        image = _display_image(image, original_range)
    elif chosen_method != ImageVisualizationMethod.heat_map:
        raise ValueError(
            "`original_image` must be provided for any visualization other than heat_map."
        )
    needs_sign = chosen_method in (ImageVisualizationMethod.masked_image,
                                   ImageVisualizationMethod.alpha_scaling)
    if needs_sign and chosen_sign == VisualizeSign.all:
        raise ValueError(
            f"`sign` 'all' cannot be shown with method '{chosen_method.name}' (signed values "
            "have no meaning as a mask or alpha); choose 'positive', 'negative' or "
            "'absolute_value'."
        )

    figure, axis = plt_fig_axis if plt_fig_axis is not None else _new_figure(fig_size,
                                                                            use_pyplot)
    axis.xaxis.set_ticks_position("none")
    axis.yaxis.set_ticks_position("none")
    axis.set_yticklabels([])
    axis.set_xticklabels([])
    axis.grid(visible=False)

    heat_map = None
    if chosen_method == ImageVisualizationMethod.original_image:
        assert image is not None
        axis.imshow(_squeeze_grey(image), cmap=original_cmap)
    else:
        values = _signed_values(attr_array, chosen_sign, reduce_channels=True)
        normalized = _normalize(values, chosen_sign, outlier_perc, vmax)
        heat_cmap, low = _default_cmap(chosen_sign, cmap)
        # With an explicit vmax the map is drawn in attribution units (same colours).
        shown = normalized if vmax is None else normalized * vmax
        limit = 1.0 if vmax is None else float(vmax)
        if chosen_method == ImageVisualizationMethod.heat_map:
            heat_map = axis.imshow(shown, cmap=heat_cmap, vmin=low * limit, vmax=limit)
        elif chosen_method == ImageVisualizationMethod.blended_heat_map:
            assert image is not None
            grey = np.mean(image, axis=2) if image.ndim == 3 else image
            axis.imshow(grey, cmap="gray")
            heat_map = axis.imshow(shown, cmap=heat_cmap, vmin=low * limit, vmax=limit,
                                   alpha=alpha_overlay)
        elif chosen_method == ImageVisualizationMethod.masked_image:
            assert image is not None
            masked = image * (normalized if image.ndim == 2 else normalized[:, :, None])
            axis.imshow(_squeeze_grey(_clip_to_pixels(masked)), cmap=original_cmap)
        else:
            assert image is not None
            colour = image if image.ndim == 3 and image.shape[2] != 1 else np.repeat(
                image.reshape(*image.shape[:2], 1), 3, axis=2)
            alpha = _clip_to_pixels(normalized[:, :, None] * 255)
            axis.imshow(np.concatenate([colour, alpha], axis=2))

    if show_colorbar:
        colorbar_axis = make_axes_locatable(axis).append_axes("bottom", size="5%", pad=0.1)
        if heat_map is not None:
            figure.colorbar(heat_map, orientation="horizontal", cax=colorbar_axis)
        else:
            colorbar_axis.axis("off")
    if title:
        axis.set_title(title)
    if use_pyplot:
        plt.show()
    return figure, axis


def visualize_image_attr_multiple(
    attr: ArrayLike,
    original_image: Optional[ArrayLike],
    methods: List[str],
    signs: List[str],
    titles: Optional[List[str]] = None,
    fig_size: Tuple[int, int] = (8, 6),
    use_pyplot: bool = True,
    **kwargs: Any,
) -> Tuple[Figure, Union[Axes, List[Axes]]]:
    """Several visualisations of one attribution side by side (1 x k grid), one per
    ``(methods[i], signs[i])`` with ``titles[i]``; ``kwargs`` go to every
    :func:`visualize_image_attr` call (e.g. ``show_colorbar``, ``cmap``, ``vmax``).

    Returns:
        ``(figure, axes)``: a single Axes for one method, else a list.
    """
    if len(methods) != len(signs):
        raise ValueError(f"`methods` and `signs` must have the same length; got "
                         f"{len(methods)} and {len(signs)}.")
    if titles is not None and len(titles) != len(methods):
        raise ValueError(f"`titles` must have one title per method ({len(methods)}); got "
                         f"{len(titles)}.")
    if not methods:
        raise ValueError("`methods` must name at least one visualization method.")
    figure = plt.figure(figsize=fig_size) if use_pyplot else Figure(figsize=fig_size)
    axes = figure.subplots(1, len(methods))
    axis_list = [axes] if len(methods) == 1 else list(axes)
    for index, axis in enumerate(axis_list):
        visualize_image_attr(attr, original_image=original_image, method=methods[index],
                             sign=signs[index], plt_fig_axis=(figure, axis), use_pyplot=False,
                             title=titles[index] if titles else None, **kwargs)
    figure.tight_layout()
    if use_pyplot:
        plt.show()
    return figure, (axes if len(methods) == 1 else axis_list)


def draw_mask_border(ax: Axes, mask: ArrayLike, border_width: int = 1,
                     border_color: Union[str, np.ndarray] = "black") -> None:
    """Draw the inner border of a boolean (H, W) ``mask`` (``border_width`` pixels: the mask
    minus its erosion by a 4-connected cross, image edges counting as outside)."""
    region = _as_numpy(mask, "mask").astype(bool)
    if region.ndim != 2:
        raise ValueError(f"`mask` must be a 2-D boolean array (H, W); got shape {region.shape}.")
    eroded = region.copy()
    for _ in range(int(border_width)):
        padded = np.pad(eroded, 1, constant_values=False)
        eroded = (padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1]
                  & padded[1:-1, :-2] & padded[1:-1, 2:])
    border = region & ~eroded
    overlay = np.zeros((*region.shape, 4))
    overlay[border] = matplotlib.colors.to_rgba(border_color)
    ax.imshow(overlay)


def draw_mask_legend(ax: Axes, mask: ArrayLike, label: str, fontsize: int = 10,
                     text_color: str = "white", bbox_facecolor: str = "black",
                     bbox_alpha: float = 0.6) -> None:
    """Write ``label`` at the centroid of a boolean (H, W) ``mask`` (nothing for an empty
    mask)."""
    region = _as_numpy(mask, "mask").astype(bool)
    rows, columns = np.nonzero(region)
    if rows.size == 0:
        return
    ax.text(columns.mean(), rows.mean(), label, color=text_color, fontsize=fontsize,
            ha="center", va="center",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": bbox_facecolor,
                  "alpha": bbox_alpha})


# ---------------------------------------------------------------------------------------------
# time series
# ---------------------------------------------------------------------------------------------

def visualize_timeseries_attr(
    attr: ArrayLike,
    data: ArrayLike,
    x_values: Optional[ArrayLike] = None,
    method: str = "overlay_individual",
    sign: str = "absolute_value",
    channel_labels: Optional[List[str]] = None,
    channels_last: bool = True,
    plt_fig_axis: Optional[Tuple[Figure, Union[Axes, List[Axes]]]] = None,
    outlier_perc: Union[int, float] = 2,
    cmap: Optional[Union[str, Colormap]] = None,
    alpha_overlay: float = 0.7,
    show_colorbar: bool = False,
    title: Optional[str] = None,
    fig_size: Tuple[int, int] = (6, 6),
    use_pyplot: bool = True,
    *,
    vmax: Optional[float] = None,
    **pyplot_kwargs: Any,
) -> Tuple[Figure, Union[Axes, List[Axes]]]:
    """Draw attributions over a multichannel time series of N points and C channels.

    The attributions are normalised together (all channels share the scale, as Captum) and
    drawn with ``method``:

    * ``overlay_individual``: one panel per channel, the attributions as coloured bands
      (alpha ``alpha_overlay``) behind the channel's curve;
    * ``overlay_combined``: all channels in one panel over bands of the channel-averaged
      attributions;
    * ``colored_graph``: one panel per channel, the curve itself coloured by attribution.

    Args:
        attr, data: (N, C) arrays or tensors ((C, N) with ``channels_last=False``); a 1-D
            series is one channel.
        x_values: (N,) positions of the points (default 0..N-1).
        method, sign, outlier_perc, cmap, alpha_overlay, show_colorbar, title, fig_size,
        use_pyplot: as for :func:`visualize_image_attr`.
        channel_labels: one label per channel (panel y-labels, legend entries).
        plt_fig_axis: ``(figure, axes)`` to draw into (one axis per panel).
        vmax: scale to divide by instead of the outlier threshold (keyword only).
        **pyplot_kwargs: passed to the plotting of the curves (e.g. ``linewidth=3``).

    Returns:
        ``(figure, axes)``: a single Axes for ``overlay_combined``, else an array of Axes.
    """
    chosen_method = _enum_value(TimeseriesVisualizationMethod, method, "method")
    chosen_sign = _enum_value(VisualizeSign, sign, "sign")
    attr_array = _series(attr, "attr", channels_last)
    series = _series(data, "data", channels_last)
    if attr_array.shape != series.shape:
        raise ValueError(f"`attr` and `data` must have the same shape; got {attr_array.shape} "
                         f"and {series.shape} (points x channels).")
    points, channels = series.shape
    if x_values is None:
        x = np.arange(points)
    else:
        x = _as_numpy(x_values, "x_values").reshape(-1)
        if x.shape[0] != points:
            raise ValueError(f"`x_values` must have one value per point ({points}); got "
                             f"{x.shape[0]}.")
    if channel_labels is not None and len(channel_labels) != channels:
        raise ValueError(f"`channel_labels` must have one label per channel ({channels}); got "
                         f"{len(channel_labels)}.")

    if chosen_method == TimeseriesVisualizationMethod.overlay_combined:
        # One band per point for all channels: the channel sum, signed, then normalised.
        combined = _signed_values(np.sum(attr_array, axis=1), chosen_sign, reduce_channels=False)
        normalized = _normalize(combined, chosen_sign, outlier_perc, vmax)
    else:
        normalized = _normalize(_signed_values(attr_array, chosen_sign, reduce_channels=False),
                                chosen_sign, outlier_perc, vmax)
    colour_map, low = _default_cmap(chosen_sign, cmap)
    colour_map = plt.get_cmap(colour_map)
    norm = Normalize(vmin=low, vmax=1.0)

    panels = 1 if chosen_method == TimeseriesVisualizationMethod.overlay_combined else channels
    if plt_fig_axis is None:
        figure = plt.figure(figsize=fig_size) if use_pyplot else Figure(figsize=fig_size)
        axes = figure.subplots(panels, sharex=True)
    else:
        figure, axes = plt_fig_axis
    axis_list = list(np.atleast_1d(axes))
    if len(axis_list) != panels:
        raise ValueError(f"`plt_fig_axis` must hold {panels} axes for method "
                         f"'{chosen_method.name}' with {channels} channels; got "
                         f"{len(axis_list)}.")

    half_width = (x[1] - x[0]) / 2.0 if points > 1 else 0.5

    def bands(axis: Axes, values: np.ndarray) -> None:
        for position, value in zip(x, values):
            axis.axvspan(position - half_width, position + half_width,
                         facecolor=colour_map(norm(value)), edgecolor="none",
                         alpha=alpha_overlay)

    if chosen_method == TimeseriesVisualizationMethod.overlay_individual:
        for channel, axis in enumerate(axis_list):
            axis.plot(x, series[:, channel], **pyplot_kwargs)
            if channel_labels is not None:
                axis.set_ylabel(channel_labels[channel])
            bands(axis, normalized[:, channel])
    elif chosen_method == TimeseriesVisualizationMethod.overlay_combined:
        axis = axis_list[0]
        line_colours = plt.get_cmap("Dark2")
        for channel in range(channels):
            label = channel_labels[channel] if channel_labels is not None else None
            axis.plot(x, series[:, channel], label=label,
                      **{"color": line_colours(channel), **pyplot_kwargs})
        bands(axis, normalized)
        with warnings.catch_warnings():
            # Captum always adds the legend (empty without channel labels); keep it quiet.
            warnings.filterwarnings("ignore", message="No artists with labels")
            axis.legend(loc="best")
    else:
        for channel, axis in enumerate(axis_list):
            pointsxy = np.stack([x, series[:, channel]], axis=1).reshape(-1, 1, 2)
            segments = np.concatenate([pointsxy[:-1], pointsxy[1:]], axis=1)
            lines = LineCollection(segments, cmap=colour_map, norm=norm, **pyplot_kwargs)
            lines.set_array(normalized[:, channel])
            axis.add_collection(lines)
            axis.autoscale_view()
            # Captum's vertical range: 1.2 x the extremes of the channel.
            axis.set_ylim(1.2 * np.min(series[:, channel]), 1.2 * np.max(series[:, channel]))
            if channel_labels is not None:
                axis.set_ylabel(channel_labels[channel])

    if show_colorbar:
        colorbar_axis = make_axes_locatable(axis_list[-1]).append_axes("bottom", size="5%",
                                                                       pad=0.4)
        scale = matplotlib.cm.ScalarMappable(norm=norm, cmap=colour_map)
        overlay = chosen_method != TimeseriesVisualizationMethod.colored_graph
        figure.colorbar(scale, orientation="horizontal", cax=colorbar_axis,
                        alpha=alpha_overlay if overlay else None)
    if title:
        axis_list[0].set_title(title)
    if use_pyplot:
        plt.show()
    return figure, axes


def _series(array: ArrayLike, name: str, channels_last: bool) -> np.ndarray:
    values = _as_numpy(array, name)
    if values.ndim == 1:
        values = values[:, None] if channels_last else values[None, :]
    if values.ndim != 2:
        raise ValueError(f"`{name}` must be a (points, channels) array (or (channels, points) "
                         f"with channels_last=False); got shape {values.shape}.")
    return values if channels_last else values.T


# ---------------------------------------------------------------------------------------------
# text
# ---------------------------------------------------------------------------------------------

class VisualizationDataRecord:
    """One row of :func:`visualize_text`: a text's tokens, their attributions, and labels."""

    __slots__ = ["attr_class", "attr_score", "convergence_score", "pred_class", "pred_prob",
                 "raw_input_ids", "true_class", "word_attributions"]

    def __init__(self, word_attributions: Tensor, pred_prob: float, pred_class: int,
                 true_class: int, attr_class: int, attr_score: float,
                 raw_input_ids: List[str], convergence_score: float) -> None:
        self.word_attributions = word_attributions
        self.pred_prob = pred_prob
        self.pred_class = pred_class
        self.true_class = true_class
        self.attr_class = attr_class
        self.attr_score = attr_score
        self.raw_input_ids = raw_input_ids
        self.convergence_score = convergence_score


def _get_color(attr: Any) -> str:
    """Green for positive, red for negative importance; lightness from the magnitude.

    ``attr`` keeps its type (a 0-d tensor or numpy scalar computes in its own precision, as in
    Captum: 50 * float32(0.9) is exactly 45)."""
    attr = max(-1, min(1, attr))  # Captum's clamp (NaN ends up as +1)
    if attr > 0:
        hue, lightness = 120, 100 - int(50 * attr)
    else:
        hue, lightness = 0, 100 - int(-40 * attr)
    return f"hsl({hue}, 75%, {lightness}%)"


def format_classname(classname: Union[str, int]) -> str:
    """A table cell with the (escaped) class name in bold."""
    return f'<td><text style="padding-right:2em"><b>{html.escape(str(classname))}</b></text></td>'


def format_special_tokens(token: str) -> str:
    """``<s>``-style special tokens as ``#s`` (Captum's display of special tokens)."""
    if token.startswith("<") and token.endswith(">"):
        return "#" + token.strip("<>")
    return token


def format_tooltip(item: str, text: str) -> str:
    """``item`` with a hover tooltip showing ``text`` (both escaped)."""
    return (f'<div class="tooltip">{html.escape(str(item))}        <span class="tooltiptext">'
            f"{html.escape(str(text))}</span>        </div>")


def format_word_importances(words: Sequence[str],
                            importances: Union[Sequence[float], np.ndarray, Tensor]) -> str:
    """A table cell with every word highlighted by its importance (words escaped).

    Raises ``ValueError`` for no words or fewer importances than words (extra importances
    are ignored, as in Captum).
    """
    if importances is None or len(importances) == 0 or len(words) == 0:
        raise ValueError(
            f"`words` and `importances` must not be empty; got {len(words)} words and "
            f"{0 if importances is None else len(importances)} importances."
        )
    if len(words) > len(importances):
        raise ValueError(f"`importances` must have one value per word ({len(words)}); got "
                         f"{len(importances)}.")
    cells = ["<td>"]
    for word, importance in zip(words, importances):
        text = html.escape(format_special_tokens(str(word)))
        cells.append(
            f'<mark style="background-color: {_get_color(importance)}; opacity:1.0;'
            f'                     line-height:1.75"><font color="black"> {text}'
            "                    </font></mark>"
        )
    cells.append("</td>")
    return "".join(cells)


_LEGEND = (
    '<div style="border-top: 1px solid; margin-top: 5px;             padding-top: 5px; '
    'display: inline-block"><b>Legend: </b>'
    + "".join(
        '<span style="display: inline-block; width: 10px; height: 10px;                 '
        f'border: 1px solid; background-color:                 {_get_color(value)}"></span>'
        f" {label}  "
        for value, label in zip([-1, 0, 1], ["Negative", "Neutral", "Positive"]))
    + "</div>"
)
_HEADER = ("<tr><th>True Label</th><th>Predicted Label</th><th>Attribution Label</th>"
           "<th>Attribution Score</th><th>Word Importance</th>")


def visualize_text(datarecords: Iterable[VisualizationDataRecord], legend: bool = True
                   ) -> HTML:
    """An HTML table with one row per record: true, predicted and attribution labels, the
    attribution score and the highlighted tokens. Every token and label is HTML-escaped.

    Returns the ``IPython.display.HTML`` object, after displaying it (as Captum does).
    """
    rows = [_HEADER]
    for index, record in enumerate(datarecords):
        if not isinstance(record, VisualizationDataRecord):
            raise TypeError(f"`datarecords`[{index}] must be a VisualizationDataRecord; got "
                            f"{describe(record)}.")
        if len(record.raw_input_ids) == 0:
            raise ValueError(f"`datarecords`[{index}].raw_input_ids is empty: there are no "
                             "tokens to show.")
        rows.append("".join([
            "<tr>",
            format_classname(record.true_class),
            format_classname(f"{record.pred_class} ({record.pred_prob:.2f})"),
            format_classname(record.attr_class),
            format_classname(f"{record.attr_score:.2f}"),
            format_word_importances(record.raw_input_ids, record.word_attributions),
            "<tr>",
        ]))
    markup = "".join(["<table width: 100%>", _LEGEND if legend else "", "".join(rows),
                      "</table>"])
    result = HTML(markup)
    if HAS_IPYTHON:
        display(result)
    return result


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
