"""Matplotlib figures of LLM attributions (token matrix, sequence bars, image segments)."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
from torch import Tensor


def _figure(width: float, height: float) -> Tuple[Any, Any]:
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _finish(fig: Any, ax: Any, show: bool) -> Optional[Tuple[Any, Any]]:
    if show:
        import matplotlib.pyplot as plt

        plt.show()
        return None
    return fig, ax


def _symmetric_limit(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def plot_matrix(token_attr: Tensor, inputs: Sequence[str], outputs: Sequence[str],
                show: bool) -> Optional[Tuple[Any, Any]]:
    """Output tokens (rows) x input tokens (columns), red positive / blue negative."""
    values = token_attr.detach().float().cpu().numpy()
    fig, ax = _figure(max(4.0, 0.6 * len(inputs) + 2), max(3.0, 0.45 * len(outputs) + 1.5))
    limit = _symmetric_limit(values)
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(len(inputs)), labels=list(inputs), rotation=45, ha="right")
    ax.set_yticks(range(len(outputs)), labels=list(outputs))
    for (row, column), value in np.ndenumerate(values):
        ax.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=8,
                color="white" if abs(value) > 0.6 * limit else "black")
    ax.set_xlabel("input tokens")
    ax.set_ylabel("output tokens")
    fig.tight_layout()
    return _finish(fig, ax, show)


def plot_bars(seq_attr: Tensor, inputs: Sequence[str], show: bool) -> Optional[Tuple[Any, Any]]:
    """One bar per input token: positive red, negative blue."""
    values = seq_attr.detach().float().cpu().numpy()
    fig, ax = _figure(max(4.0, 0.6 * len(inputs) + 2), 3.0)
    colours = ["#d6604d" if v >= 0 else "#4393c3" for v in values]
    ax.bar(range(len(values)), values, color=colours)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(inputs)), labels=list(inputs), rotation=45, ha="right")
    ax.set_ylabel("sequence attribution")
    fig.tight_layout()
    return _finish(fig, ax, show)


def plot_segments(inp: Any, values: Optional[Tensor], show: bool, border_width: int,
                  show_legends: bool) -> Optional[Tuple[Any, Any]]:
    """The image with each segment tinted by its value (or by its id when ``values`` is None),
    outlined with ``border_width`` pixels and labelled with its id."""
    image = np.asarray(inp.image.convert("RGB"), dtype=np.float32) / 255.0
    masks: List[np.ndarray] = [m.cpu().numpy().astype(bool) for m in inp.get_mask_list()]
    fig, ax = _figure(6.0, 6.0)
    ax.imshow(image)
    if values is None:
        overlay = np.zeros(image.shape[:2])
        for index, mask in enumerate(masks):
            overlay[mask] = index
        ax.imshow(overlay, cmap="tab20", alpha=0.4)
    else:
        per_pixel = inp.format_pixel_attr(values.reshape(1, -1).float().cpu())[0].numpy()
        limit = _symmetric_limit(per_pixel)
        shown = ax.imshow(per_pixel, cmap="RdBu_r", vmin=-limit, vmax=limit, alpha=0.6)
        fig.colorbar(shown, ax=ax)
    for index, mask in enumerate(masks):
        if border_width > 0:
            ax.contour(mask.astype(float), levels=[0.5], colors="black",
                       linewidths=border_width * 0.5)
        if show_legends and mask.any():
            rows, columns = np.nonzero(mask)
            ax.text(columns.mean(), rows.mean(), str(index), color="white", ha="center",
                    va="center", bbox={"facecolor": "black", "alpha": 0.6})
    ax.axis("off")
    return _finish(fig, ax, show)
