"""Classroom demo: the shapes CNN trained on *biased* scenes, which confuses two classes.

In this model's training scenes almost every square is yellow and no circle is ever yellow;
every other shape takes any colour. On fair scenes (:func:`.shapes.make_dataset`) it mistakes
circles for squares — the classroom exercise (``notebooks/07_classroom_exercise``)
asks students to find out which scenes, and why, with attributions and an intervention.
(Spoiler, for teachers: the model took the colour yellow as evidence for "square".)

The architecture, classes and normalisation are those of :mod:`.shapes`.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from ._drawing import COLOUR_NAMES, SHAPES, Scenes, draw_scenes
from ._training import accuracy, fit
from ._weights import load_weights, save_weights
from .shapes import CLASSES, TEST_SEED, ShapesCNN, make_dataset, normalize

WEIGHTS = "shortcut"
TRAIN_SEED = 30_000
TRAIN_SIZE = 8000
TRAIN_EPOCHS = 6
SQUARE_YELLOW = 0.9  # fraction of training squares drawn yellow

_YELLOW = COLOUR_NAMES.index("yellow")
_SQUARE, _CIRCLE = SHAPES.index("square"), SHAPES.index("circle")

__all__ = ["CLASSES", "load_model", "make_biased_dataset", "make_biased_scenes", "train"]


def make_biased_scenes(n: int, seed: int) -> Scenes:
    """Scenes of the biased training distribution: squares are yellow with probability
    ``SQUARE_YELLOW``, circles are never yellow, the other shapes take any colour."""
    g = torch.Generator().manual_seed(int(seed) + 7)
    shapes = torch.randint(len(SHAPES), (n,), generator=g)
    colours = torch.randint(len(COLOUR_NAMES), (n,), generator=g)
    not_yellow = torch.randint(len(COLOUR_NAMES) - 1, (n,), generator=g)
    not_yellow = not_yellow + (not_yellow >= _YELLOW).long()  # skip yellow
    squares_yellow = torch.rand(n, generator=g) < SQUARE_YELLOW
    colours = torch.where(shapes == _CIRCLE, not_yellow, colours)
    colours = torch.where(shapes == _SQUARE,
                          torch.where(squares_yellow, torch.full_like(colours, _YELLOW),
                                      not_yellow), colours)
    return draw_scenes(n, seed, shapes=shapes, colours=colours)


def make_biased_dataset(n: int, seed: int) -> Tuple[Tensor, Tensor]:
    """Images (n, 3, 32, 32) in [0, 1] and labels (n,) of :func:`make_biased_scenes`."""
    scenes = make_biased_scenes(n, seed)
    return scenes.images, scenes.shapes


def load_model() -> ShapesCNN:
    """The bundled biased :class:`~insight_widget.examples.shapes.ShapesCNN`, eval mode."""
    return load_weights(ShapesCNN(), WEIGHTS)


def train(epochs: int = TRAIN_EPOCHS, log=print) -> ShapesCNN:
    """Retrain from seed 0 on biased scenes and save ``weights/shortcut.pt``."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = ShapesCNN()

    def epoch_data(epoch: int):
        images, labels = make_biased_dataset(TRAIN_SIZE, TRAIN_SEED + epoch)
        return (normalize(images),), labels

    fit(model, epoch_data, epochs=epochs, lr=4e-3, seed=0, log=log)
    if log is not None:
        images, labels = make_dataset(2000, TEST_SEED)
        log(f"shortcut: accuracy on fair held-out scenes "
            f"{accuracy(model, (normalize(images),), labels):.3f}")
    save_weights(model, WEIGHTS)
    return model
