"""The seam between the visualiser and its widget.

The widget (``widget.py``) and its compute session (``session.py``) use the visualiser only
through :class:`Visualiser`; :class:`~insight_widget.widget.visualizer.AttributionVisualizer`
implements it. Anything else that wants the widget on top (a dataset browser) implements the
same few members, or brings its own session and widget subclass as the generation view does
(``llm_session.py``: its visualiser needs only ``spec()`` and ``selection`` here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

from .attribution import Outcome, PreparedExample, Settings
from .dataset import FetchResult
from .features import BaseFeature

#: the progress callback of one attribution: fraction in [0, 1] -> False to stop
Progress = Callable[[float], Any]
#: one example as the front end shows it (see ``ComputeSession._encode_example``)
WireExample = Dict[str, Any]


@dataclass
class Selection:
    """The current choices: the method, its arguments and the fetch filters (what Captum
    Insights kept as its config; ``_update_config`` sets it)."""

    method: str
    arguments: Dict[str, Any]
    prediction: str = "all"
    classes: List[str] = field(default_factory=list)
    num_examples: int = 4

    def widget_settings(self) -> Dict[str, Any]:
        """The ``settings`` trait a new widget opens with."""
        return {"method": self.method, "arguments": {},
                "filters": {"prediction": self.prediction, "classes": list(self.classes),
                            "num_examples": self.num_examples}}


class Visualiser(Protocol):
    """What the widget and the compute session need from a visualiser."""

    models: List[Any]
    features: List[BaseFeature]
    selection: Selection

    def spec(self) -> Dict[str, Any]:
        """Everything the front end needs to build its controls (JSON)."""

    def request_settings(self, chosen: Mapping[str, Any]
                         ) -> Tuple[Settings, Optional[Settings]]:
        """The validated settings of a request and of the method compared with it, if any."""

    def fetch(self, num_examples: int = 4, prediction: str = "all",
              classes: Sequence[str] = (), max_batches: int = 64, restart: bool = False,
              should_stop: Callable[[], bool] = ...,
              on_batch: Optional[Callable[[int, int], Any]] = None) -> FetchResult:
        """Scan the dataset for examples passing the filters (bounded)."""

    def example(self, example_id: int) -> PreparedExample:
        """A fetched example by id."""

    def default_target(self, example: PreparedExample, model_index: int) -> Optional[int]:
        """The class attributed to when the user chose none."""

    def attribute(self, example: PreparedExample, model_index: int, settings: Settings,
                  target: Any = "default", progress: Optional[Progress] = None) -> Outcome:
        """Run ``settings`` on one example and model; errors come back in ``Outcome.wire``."""


class ExampleStore(Protocol):
    """Where the examples on screen live on the Python side (the widget's ``examples``
    trait): the session reads and replaces the list, never keeps its own copy."""

    def get(self) -> List[WireExample]:
        """The examples on screen."""

    def set(self, examples: List[WireExample]) -> None:
        """Replace them (the front end applies the same change from the message)."""


class ListStore:
    """An :class:`ExampleStore` without a widget (a plain list)."""

    def __init__(self) -> None:
        self._examples: List[WireExample] = []

    def get(self) -> List[WireExample]:
        return self._examples

    def set(self, examples: List[WireExample]) -> None:
        self._examples = examples
