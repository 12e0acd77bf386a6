"""Fixtures driving the widget through its message handler, without a browser."""

from __future__ import annotations

import itertools
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest
import torch

from insight_widget import AttributionVisualizer, ImageFeature

from .small_models import CIFAR_CLASSES, TinyCifarNet, cifar_like, seeded


class Driver:
    """Sends custom messages the way the front end does and records every reply."""

    def __init__(self, visualizer: AttributionVisualizer) -> None:
        self.visualizer = visualizer
        self.widget = visualizer.widget()
        self.sent: List[Tuple[Dict[str, Any], List[bytes]]] = []
        self.widget.send = lambda content, buffers=None: self.sent.append((content, buffers or []))
        self._ids = itertools.count(1)

    def request(self, kind: str, wait: bool = True, **content: Any) -> int:
        request_id = next(self._ids)
        message = {"type": kind, "id": request_id, **content}
        self.widget._handle_msg({"content": {"data": {"method": "custom", "content": message}},
                                 "buffers": []})
        if wait:
            assert self.widget.session.wait(60), "the compute session did not finish"
        return request_id

    def replies(self, request_id: int, kind: Optional[str] = None) -> List[Dict[str, Any]]:
        return [c for c, _ in self.sent if c.get("id") == request_id
                and (kind is None or c["type"] == kind)]

    def cancel_running(self, request_id: int, after: float = 0.3, within: float = 2.0) -> None:
        """Cancel ``request_id`` ``after`` seconds in; it must end, cancelled, ``within``
        seconds of the cancel."""
        time.sleep(after)
        started = time.monotonic()
        self.request("cancel", request=request_id)
        assert self.widget.session.wait(10)
        assert time.monotonic() - started < within
        assert self.done(request_id)["state"] == "cancelled"

    def done(self, request_id: int) -> Dict[str, Any]:
        finished = self.replies(request_id, "done")
        assert len(finished) == 1, f"expected one done reply, got {finished}"
        return finished[0]


def make_cifar_visualizer(**kwargs: Any) -> AttributionVisualizer:
    options = {"models": seeded(TinyCifarNet()), "classes": CIFAR_CLASSES,
               "features": [ImageFeature("Photo", baseline_transforms=[lambda x: x * 0],
                                         input_transforms=[])],
               "dataset": cifar_like(), "score_func": lambda o: torch.softmax(o, 1)}
    options.update(kwargs)
    return AttributionVisualizer(**options)


@pytest.fixture
def cifar_driver() -> Driver:
    return Driver(make_cifar_visualizer())
