"""Image demo: a small batch-normalised CNN that names the coloured shape in a 32x32 scene.

The scenes (see :mod:`._drawing`) hold one shape of :data:`CLASSES` in a random colour, size,
position and rotation, over a dark background with a brightness ramp, thin coloured clutter
(segments and dots) and pixel noise. Colour says nothing about the class, so a model that works
must look at the outline, and good attribution maps light up the shape.

>>> from insight_widget.examples import shapes
>>> model = shapes.load_model()                       # eval mode, bundled weights
>>> images, labels = shapes.make_dataset(8, seed=1)   # images in [0, 1]
>>> logits = model(shapes.normalize(images))          # (8, 5)

The model takes *normalised* images (``normalize``); ``make_dataset`` returns images in [0, 1],
ready to display. Retrain with ``python -m insight_widget.examples.train shapes``.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ._drawing import COLOUR_NAMES, SHAPES, Scenes, draw_scenes
from ._training import accuracy, fit
from ._weights import load_weights, save_weights

CLASSES: List[str] = list(SHAPES)
COLOURS: List[str] = list(COLOUR_NAMES)  # shape colours (they do not depend on the class)
WEIGHTS = "shapes"
# Per-channel statistics of generated scenes (rounded): normalised images are roughly
# zero-mean, unit-variance, so an all-zeros baseline is "average background grey".
MEAN: Tuple[float, float, float] = (0.255, 0.254, 0.255)
STD: Tuple[float, float, float] = (0.24, 0.22, 0.23)
# Training draws fresh scenes every epoch from seeds TRAIN_SEED + epoch; evaluate on any other
# seed (tests use TEST_SEED) to measure held-out accuracy.
TRAIN_SEED = 10_000
TEST_SEED = 2024
TRAIN_EPOCHS = 10
TRAIN_SIZE = 8000


def normalize(images: Tensor) -> Tensor:
    """Map images in [0, 1] (N, 3, H, W) or (3, H, W) to the model's input scale."""
    mean = torch.tensor(MEAN, dtype=images.dtype).view(3, 1, 1)
    std = torch.tensor(STD, dtype=images.dtype).view(3, 1, 1)
    return (images - mean) / std


def denormalize(inputs: Tensor) -> Tensor:
    """Inverse of :func:`normalize` (model inputs back to [0, 1] images)."""
    mean = torch.tensor(MEAN, dtype=inputs.dtype).view(3, 1, 1)
    std = torch.tensor(STD, dtype=inputs.dtype).view(3, 1, 1)
    return inputs * std + mean


class ShapesCNN(nn.Module):
    """Four 3x3 conv-BN-ReLU stages (32x32 -> 16x16 -> 8x8), global average pooling, linear.

    Down-sampling averages (rather than takes maxima) so input gradients are smooth and
    attribution maps are not speckled (measured: more Integrated Gradients mass on the shape).

    Input (N, 3, 32, 32) normalised images; output (N, 5) logits. Every ReLU is its own module
    (hook-based methods such as DeepLift need that); ``conv4``/``relu4`` (N, 48, 8, 8) is the
    natural layer for Grad-CAM.
    """

    def __init__(self, num_classes: int = len(CLASSES), width: int = 16) -> None:
        super().__init__()
        w1, w2, w3 = width, 2 * width, 3 * width
        self.conv1 = nn.Conv2d(3, w1, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.AvgPool2d(2)
        self.conv2 = nn.Conv2d(w1, w2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(w2)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.AvgPool2d(2)
        self.conv3 = nn.Conv2d(w2, w3, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(w3)
        self.relu3 = nn.ReLU()
        self.conv4 = nn.Conv2d(w3, w3, 3, padding=1, bias=False)
        self.bn4 = nn.BatchNorm2d(w3)
        self.relu4 = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(w3, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        x = self.relu3(self.bn3(self.conv3(x)))
        x = self.relu4(self.bn4(self.conv4(x)))
        return self.fc(self.flatten(self.gap(x)))


def make_scenes(n: int, seed: int = TEST_SEED, shape: Optional[str] = None,
                colour: Optional[str] = None) -> Scenes:
    """Everything about ``n`` generated scenes (images, masks, shape and colour indices).

    ``shape``/``colour`` force every scene to that class/colour name; the rest of each scene
    (position, size, clutter, noise) is the same as without them, so ``make_scenes(n, seed,
    colour="blue")`` repaints the shapes of ``make_scenes(n, seed)`` — an intervention.
    """
    forced_shape = None if shape is None else torch.full((n,), _index(CLASSES, shape, "shape"))
    forced_colour = None if colour is None else torch.full(
        (n,), _index(COLOURS, colour, "colour"))
    return draw_scenes(n, seed, shapes=forced_shape, colours=forced_colour)


def _index(names: Sequence[str], name: str, what: str) -> int:
    if name not in names:
        raise ValueError(f"`{what}` must be one of {list(names)}; got {name!r}")
    return list(names).index(name)


def make_dataset(n: int, seed: int = TEST_SEED) -> Tuple[Tensor, Tensor]:
    """``n`` generated scenes: images (n, 3, 32, 32) float32 in [0, 1] and labels (n,) long.

    Deterministic in ``seed``; labels index :data:`CLASSES`. Apply :func:`normalize` before
    calling the model.
    """
    scenes = draw_scenes(n, seed)
    return scenes.images, scenes.shapes


def make_dataset_with_masks(n: int, seed: int = TEST_SEED) -> Tuple[Tensor, Tensor, Tensor]:
    """Like :func:`make_dataset` (same images for the same seed) plus the shapes' pixel masks.

    Returns:
        images (n, 3, 32, 32) in [0, 1], labels (n,) long, masks (n, 32, 32) bool (True on the
        pixels that show the shape).
    """
    scenes = draw_scenes(n, seed)
    return scenes.images, scenes.shapes, scenes.masks


def load_model() -> ShapesCNN:
    """The bundled, trained :class:`ShapesCNN` in eval mode (a fresh instance per call)."""
    return load_weights(ShapesCNN(), WEIGHTS)


def train(epochs: int = TRAIN_EPOCHS, log=print) -> ShapesCNN:
    """Retrain from seed 0 on fresh scenes every epoch and save to ``weights/shapes.pt``."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = ShapesCNN()

    def epoch_data(epoch: int):
        images, labels = make_dataset(TRAIN_SIZE, TRAIN_SEED + epoch)
        return (normalize(images),), labels

    fit(model, epoch_data, epochs=epochs, lr=4e-3, seed=0, log=log)
    images, labels = make_dataset(2000, TEST_SEED)
    if log is not None:
        log(f"shapes: held-out accuracy {accuracy(model, (normalize(images),), labels):.3f}")
    save_weights(model, WEIGHTS)
    return model
