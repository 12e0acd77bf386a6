"""Image attributions as matplotlib figures (Captum's ``visualize_image_attr`` and kin); see
the package docstring for the differences from Captum."""

from __future__ import annotations

from enum import Enum
from typing import Any, List, Optional, Tuple, Union

import matplotlib
import numpy as np
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from mpl_toolkits.axes_grid1 import make_axes_locatable

from ._common import (
    ArrayLike,
    VisualizeSign,
    _as_numpy,
    _default_cmap,
    _enum_value,
    _image_array,
    _new_figure,
    _normalize,
    _signed_values,
)


class ImageVisualizationMethod(Enum):
    heat_map = 1
    blended_heat_map = 2
    original_image = 3
    masked_image = 4
    alpha_scaling = 5


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


__all__ = [
    "ImageVisualizationMethod",
    "draw_mask_border",
    "draw_mask_legend",
    "visualize_image_attr",
    "visualize_image_attr_multiple",
]
