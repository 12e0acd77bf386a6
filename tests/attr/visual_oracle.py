"""Rendering helpers for the visualisation tests: draw with the Agg backend, compare pixels."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg


def pixels(figure):
    """The figure rendered by Agg as an (H, W, 4) uint8 array."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba()).copy()
    plt.close(figure)
    return image


def assert_same_pixels(ours, theirs):
    assert ours.shape == theirs.shape, f"render sizes differ: {ours.shape} vs {theirs.shape}"
    differing = int((ours != theirs).any(-1).sum())
    assert differing == 0, f"{differing} pixels differ"
