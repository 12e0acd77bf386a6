"""Time-series attributions as matplotlib figures (Captum's ``visualize_timeseries_attr``)."""

from __future__ import annotations

import warnings
from enum import Enum
from typing import Any, List, Optional, Tuple, Union

import matplotlib
import numpy as np
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from mpl_toolkits.axes_grid1 import make_axes_locatable

from ._common import (
    ArrayLike,
    VisualizeSign,
    _as_numpy,
    _default_cmap,
    _enum_value,
    _normalize,
    _signed_values,
)


class TimeseriesVisualizationMethod(Enum):
    overlay_individual = 1
    overlay_combined = 2
    colored_graph = 3


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


__all__ = [
    "TimeseriesVisualizationMethod",
    "visualize_timeseries_attr",
]
