"""What the image and time-series plots share: array handling, the sign and colour-scaling
rule (Captum's cumulative-mass outlier threshold, :func:`attribution_scale`), colour maps and
figures."""

from __future__ import annotations

import warnings
from enum import Enum
from typing import Any, Optional, Tuple, Union

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from torch import Tensor

from .._utils.validation import describe


class VisualizeSign(Enum):
    positive = 1
    absolute_value = 2
    negative = 3
    all = 4


ArrayLike = Any  # numpy array or torch tensor


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
