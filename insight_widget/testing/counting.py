"""Counting a model's forward passes (tests and benchmarks that assert "no extra pass")."""

from __future__ import annotations

from typing import Any

from torch import nn


class ForwardCounter:
    """Counts the completed forward calls of ``model`` (a forward hook, ``handle``); as a
    context manager it removes the hook on exit."""

    def __init__(self, model: nn.Module) -> None:
        self.calls = 0
        self.handle = model.register_forward_hook(self._count)

    def _count(self, *_: Any) -> None:
        self.calls += 1

    def __enter__(self) -> ForwardCounter:
        return self

    def __exit__(self, *_: Any) -> None:
        self.handle.remove()
