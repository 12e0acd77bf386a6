"""What removed features are replaced with: a *substrate* (RISE's term) or baseline.

Forms: ``"zeros"``; ``"blur"`` (Gaussian blur of the input, RISE's insertion start: kernel
11 x 11, sigma 5, per channel, edges replicated; images (N, C, H, W) only); a number; a tensor
(or tuple) in any of Captum's baseline forms; or a callable taking the inputs (in the form the
caller passed them) and returning tensors shaped like them.
"""

from __future__ import annotations

from typing import Any, Callable, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..attr.core import describe, expand_baselines, format_baselines, format_inputs, restore_format
from ._shapes import check_same_shapes

BLUR_KERNEL_SIZE = 11
BLUR_SIGMA = 5.0


def gaussian_blur(images: Tensor, kernel_size: int = BLUR_KERNEL_SIZE,
                  sigma: float = BLUR_SIGMA) -> Tensor:
    """Blur each channel of (N, C, H, W) images with a normalised Gaussian kernel
    (separable, edges replicated), keeping the shape."""
    if images.dim() != 4:
        raise ValueError(
            "the 'blur' substrate needs images of shape (N, C, H, W); got an input of shape "
            f"{tuple(images.shape)}. Pass a tensor or callable substrate instead."
        )
    offsets = torch.arange(kernel_size, dtype=images.dtype, device=images.device)
    offsets = offsets - (kernel_size - 1) / 2
    weights = torch.exp(-(offsets ** 2) / (2 * sigma ** 2))
    weights = weights / weights.sum()
    channels = images.shape[1]
    half = kernel_size // 2
    padded = F.pad(images, (half, half, half, half), mode="replicate")
    rows = F.conv2d(padded, weights.view(1, 1, 1, -1).expand(channels, 1, 1, -1),
                    groups=channels)
    return F.conv2d(rows, weights.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def resolve_substrate(substrate: Any, inputs: Tuple[Tensor, ...], was_tuple: bool,
                      name: str = "substrate") -> Tuple[Tensor, ...]:
    """The replacement values, one tensor per input, broadcastable to it."""
    if isinstance(substrate, str):
        if substrate == "zeros":
            return tuple(torch.zeros_like(x) for x in inputs)
        if substrate == "blur":
            return tuple(gaussian_blur(x) for x in inputs)
        raise ValueError(
            f"`{name}` must be 'zeros', 'blur', a number, a tensor (or tuple) or a callable; "
            f"got {describe(substrate)}."
        )
    if callable(substrate) and not isinstance(substrate, Tensor):
        return _called(substrate, inputs, was_tuple, name)
    return expand_baselines(format_baselines(substrate, inputs, name), inputs)


def _called(function: Callable[..., Any], inputs: Tuple[Tensor, ...], was_tuple: bool,
            name: str) -> Tuple[Tensor, ...]:
    with torch.no_grad():
        returned = function(restore_format(inputs, was_tuple))
    values, _ = format_inputs(returned, f"the result of `{name}`")
    check_same_shapes(values, inputs, f"the result of {name}", "inputs")
    return values

