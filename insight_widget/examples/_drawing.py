"""Procedural 32x32 RGB scenes: one coloured shape on a cluttered, noisy background.

Used by the image demo (:mod:`.shapes`) and the image + question demo (:mod:`.vqa`). Everything
is drawn with vectorised tensor operations from one ``torch.Generator``, so a seed fixes every
pixel on every machine, and thousands of scenes take a fraction of a second.

A scene is built in three layers:

1. background: a random dark colour with a linear brightness ramp;
2. clutter: a few thin line segments and dots in random palette colours (so that colour or
   "anything bright" alone is not a shortcut to the shape's class);
3. the shape: one of :data:`SHAPES`, in one of :data:`COLOURS` (jittered), with random size,
   position and rotation; then Gaussian pixel noise over everything.

Shapes are drawn last, so the returned mask is exactly the set of pixels showing the shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

SIZE = 32
SHAPES: Tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring")
COLOURS: Dict[str, Tuple[float, float, float]] = {
    "red": (0.92, 0.16, 0.14),
    "green": (0.16, 0.78, 0.22),
    "blue": (0.20, 0.38, 0.98),
    "yellow": (0.96, 0.86, 0.16),
    "magenta": (0.88, 0.22, 0.86),
    "cyan": (0.16, 0.86, 0.88),
}
COLOUR_NAMES: Tuple[str, ...] = tuple(COLOURS)

_PALETTE = torch.tensor(list(COLOURS.values()))  # (colours, 3)
_CLUTTER_ITEMS = 4  # up to this many segments/dots per scene
_NOISE_STD = 0.04
_COLOUR_JITTER = 0.08


@dataclass(frozen=True)
class Scenes:
    """A batch of drawn scenes.

    Attributes:
        images: (n, 3, 32, 32) float32 in [0, 1].
        masks: (n, 32, 32) bool, True where the shape is visible.
        shapes: (n,) long index into :data:`SHAPES`.
        colours: (n,) long index into :data:`COLOUR_NAMES`.
    """

    images: Tensor
    masks: Tensor
    shapes: Tensor
    colours: Tensor


def _grid() -> Tuple[Tensor, Tensor]:
    """Pixel-centre coordinates (1, 32, 32) for x (columns) and y (rows)."""
    centres = torch.arange(SIZE, dtype=torch.float32) + 0.5
    y, x = torch.meshgrid(centres, centres, indexing="ij")
    return x.unsqueeze(0), y.unsqueeze(0)


def shape_masks(shapes: Tensor, cx: Tensor, cy: Tensor, radius: Tensor, angle: Tensor) -> Tensor:
    """Boolean masks (n, 32, 32) of each shape centred at (cx, cy) with half-extent ``radius``.

    All per-scene arguments are (n,) tensors; ``angle`` is in radians. The sizes of the
    different shapes are scaled so their areas are comparable (area is no give-away).
    """
    x, y = _grid()
    dx = x - cx.view(-1, 1, 1)
    dy = y - cy.view(-1, 1, 1)
    cos, sin = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    u = cos * dx + sin * dy
    v = -sin * dx + cos * dy
    r = radius.view(-1, 1, 1)
    dist = torch.sqrt(u * u + v * v)

    circle = dist <= r
    square = torch.maximum(u.abs(), v.abs()) <= 0.86 * r
    # equilateral triangle: inside all three edges, each at distance R/2 from the centre
    big = 1.3 * r
    triangle = torch.ones_like(circle)
    for k in range(3):
        phi = math.pi / 2 + 2 * math.pi * k / 3
        triangle &= (u * math.cos(phi) + v * math.sin(phi)) <= big / 2
    arm = 0.36 * r
    cross = ((u.abs() <= arm) & (v.abs() <= r)) | ((v.abs() <= arm) & (u.abs() <= r))
    ring = (dist <= 1.05 * r) & (dist >= 0.58 * r)

    stacked = torch.stack([circle, square, triangle, cross, ring], dim=1)  # (n, 5, H, W)
    return stacked[torch.arange(len(shapes)), shapes]


def _clutter(n: int, generator: torch.Generator) -> Tuple[Tensor, Tensor]:
    """Clutter masks (n, K, 32, 32) and their colours (n, K, 3)."""
    x, y = _grid()
    k = _CLUTTER_ITEMS

    def uniform(low: float, high: float, *shape: int) -> Tensor:
        return low + (high - low) * torch.rand(*shape, generator=generator)

    x0, y0 = uniform(0, SIZE, n, k), uniform(0, SIZE, n, k)
    length = uniform(4, 11, n, k)
    theta = uniform(0, 2 * math.pi, n, k)
    is_dot = torch.rand(n, k, generator=generator) < 0.4
    present = torch.rand(n, k, generator=generator) < 0.7
    colour_index = torch.randint(len(COLOURS), (n, k), generator=generator)
    dim = uniform(0.5, 1.0, n, k, 1)

    # distance from each pixel to the segment (x0, y0) -> (x0, y0) + length * (cos, sin)
    ex, ey = torch.cos(theta), torch.sin(theta)
    px = x.unsqueeze(1) - x0.view(n, k, 1, 1)
    py = y.unsqueeze(1) - y0.view(n, k, 1, 1)
    t = (px * ex.view(n, k, 1, 1) + py * ey.view(n, k, 1, 1)).clamp(min=0)
    t = torch.minimum(t, length.view(n, k, 1, 1))
    seg_dist = torch.hypot(px - t * ex.view(n, k, 1, 1), py - t * ey.view(n, k, 1, 1))
    dot_dist = torch.hypot(px, py)
    masks = torch.where(is_dot.view(n, k, 1, 1), dot_dist <= 1.6, seg_dist <= 0.6)
    masks &= present.view(n, k, 1, 1)
    return masks, _PALETTE[colour_index] * dim


def draw_scenes(
    n: int,
    seed: int,
    shapes: Optional[Tensor] = None,
    colours: Optional[Tensor] = None,
    clutter: bool = True,
) -> Scenes:
    """Draw ``n`` scenes deterministically from ``seed``.

    Args:
        n: number of scenes.
        seed: seed of the private ``torch.Generator`` (global RNG state is untouched).
        shapes: optional (n,) shape indices to draw; random (uniform) when omitted.
        colours: optional (n,) colour indices; random (uniform) when omitted.
        clutter: draw background clutter (segments and dots).

    Returns:
        :class:`Scenes` with images in [0, 1].
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    g = torch.Generator().manual_seed(int(seed))

    def uniform(low: float, high: float, *shape: int) -> Tensor:
        return low + (high - low) * torch.rand(*shape, generator=g)

    drawn_shapes = torch.randint(len(SHAPES), (n,), generator=g)
    drawn_colours = torch.randint(len(COLOURS), (n,), generator=g)
    shapes = drawn_shapes if shapes is None else shapes.to(torch.long)
    colours = drawn_colours if colours is None else colours.to(torch.long)

    radius = uniform(5.5, 10.5, n)
    margin = radius + 1.5
    cx = margin + torch.rand(n, generator=g) * (SIZE - 2 * margin)
    cy = margin + torch.rand(n, generator=g) * (SIZE - 2 * margin)
    angle = uniform(-0.5, 0.5, n)

    # background: dark tinted colour plus a brightness ramp in a random direction
    x, y = _grid()
    base = uniform(0.0, 0.38, n, 3, 1, 1)
    ramp_dir = uniform(0, 2 * math.pi, n)
    ramp = (torch.cos(ramp_dir).view(n, 1, 1) * (x - SIZE / 2)
            + torch.sin(ramp_dir).view(n, 1, 1) * (y - SIZE / 2)) / SIZE
    images = base + 0.15 * ramp.unsqueeze(1)

    clutter_masks, clutter_colours = _clutter(n, g)
    if clutter:
        for item in range(_CLUTTER_ITEMS):
            m = clutter_masks[:, item].unsqueeze(1)
            images = torch.where(m, clutter_colours[:, item].view(n, 3, 1, 1), images)

    masks = shape_masks(shapes, cx, cy, radius, angle)
    colour = _PALETTE[colours] + _COLOUR_JITTER * (2 * torch.rand(n, 3, generator=g) - 1)
    images = torch.where(masks.unsqueeze(1), colour.view(n, 3, 1, 1), images)
    images = images + _NOISE_STD * torch.randn(images.shape, generator=g)
    return Scenes(images.clamp(0.0, 1.0).contiguous(), masks, shapes, colours)
