"""Built-in baselines offered for every feature next to the user's ``baseline_transforms``.

Each generator maps one example's model input ``x`` (no batch dim) to a reference of the same
shape. They are defined for any float tensor; "blur" and "mean" act on the spatial/time axes
(all dims after the first, which is channels for images and time series).
"""

from __future__ import annotations

from typing import Callable, Dict

import torch
import torch.nn.functional as F
from torch import Tensor


def zeros(x: Tensor) -> Tensor:
    """All zeros (Captum's default baseline)."""
    return torch.zeros_like(x)


def blur(x: Tensor, sigma: float = 2.0) -> Tensor:
    """Gaussian blur with standard deviation ``sigma`` (in elements) over dims 1.. (or dim 0 of a
    1-D input); keeps coarse structure, removes detail (the "blur" baseline of Sturmfels et al.)."""
    if not x.is_floating_point():
        return torch.zeros_like(x)
    radius = max(1, int(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    out = x if x.dim() > 1 else x.unsqueeze(0)
    for dim in range(1, min(out.dim(), 3)):
        moved = out.movedim(dim, -1)
        flat = moved.reshape(-1, 1, moved.shape[-1])
        padded = F.pad(flat, (radius, radius), mode="replicate")
        smoothed = F.conv1d(padded, kernel.view(1, 1, -1)).reshape(moved.shape)
        out = smoothed.movedim(-1, dim)
    return out if x.dim() > 1 else out.squeeze(0)


def noise(x: Tensor) -> Tensor:
    """Uniform noise spanning the input's own value range, seeded so re-runs agree."""
    if not x.is_floating_point():
        return torch.zeros_like(x)
    generator = torch.Generator().manual_seed(0)
    low, high = float(x.min()), float(x.max())
    values = torch.rand(x.shape, generator=generator, dtype=torch.float32)
    return (low + (high - low) * values).to(dtype=x.dtype, device=x.device)


def mean(x: Tensor) -> Tensor:
    """Each channel (dim 0) replaced by its mean: same average colour, no structure."""
    if not x.is_floating_point():
        return torch.zeros_like(x)
    if x.dim() < 2:
        return torch.full_like(x, float(x.mean()))
    return x.mean(dim=tuple(range(1, x.dim())), keepdim=True).expand_as(x).clone()


BUILTIN_BASELINES: Dict[str, Callable[[Tensor], Tensor]] = {
    "zeros": zeros,
    "blur": blur,
    "noise": noise,
    "mean": mean,
}
