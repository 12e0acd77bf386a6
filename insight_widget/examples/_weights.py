"""Where the bundled demo weights live, and loading/saving them as small state dicts."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DATA_DIR = Path(__file__).resolve().parent / "data"

M = TypeVar("M", bound=nn.Module)


def weights_path(name: str) -> Path:
    """Path of the bundled state dict ``weights/<name>.pt``."""
    return WEIGHTS_DIR / f"{name}.pt"


def load_weights(model: M, name: str) -> M:
    """Load ``weights/<name>.pt`` into ``model`` and return it in eval mode.

    Raises:
        FileNotFoundError: the weights are not bundled (retrain them with
            ``python -m insight_widget.examples.train <name>``).
    """
    path = weights_path(name)
    if not path.exists():
        raise FileNotFoundError(
            f"demo weights {path} not found; retrain them with "
            f"`python -m insight_widget.examples.train {name}`"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def save_weights(model: nn.Module, name: str) -> Path:
    """Save ``model``'s state dict (float32, contiguous) to ``weights/<name>.pt``."""
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    path = weights_path(name)
    torch.save(state, path)
    return path
