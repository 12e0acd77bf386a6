"""The generation view's widget and compute session.

Same machinery as the classifier visualiser (``widget.py``, ``session.py``): one worker thread,
a newer request supersedes the older, ``cancel`` stops the running one through the engine's
progress callback, replies carry the request id. Requests and replies:

browser -> kernel
    ``{"type": "generate", "id", "prompt", "max_new_tokens"}``
    ``{"type": "attribute", "id", "settings": {"method", "arguments", "prompt", "target",
    "granularity", "baseline", "baseline_text", "attr_target", "rows_per_chunk"}}``
kernel -> browser
    ``generated`` (``prompt``, ``target``); ``llm_started`` (the request as validated);
    ``llm_rows`` (one chunk: ``start``, ``rows`` (k, M) float32 bytes, ``output_tokens``,
    ``input_tokens``, ``probs``); ``llm_result`` (the finished record without its chunks:
    ``seq_attr``, ``output_tokens``, ``target``, ``seconds``); then
    ``progress`` and ``done`` as for the classifier view.

The last record lives in the ``generation`` trait (saved pages show it); the session updates
it without re-sending, since the browser applies the same messages to its copy.
"""

from __future__ import annotations

from typing import Any, Dict

import traitlets

from .session import ComputeSession, Emit, Job, ProgressReporter
from .widget import VisualizerWidget


class LLMSession(ComputeSession):
    """Runs "generate" and "attribute" requests of an :class:`LLMAttributionVisualizer`."""

    def __init__(self, visualizer: Any, emit: Emit, widget: LLMWidget) -> None:
        super().__init__(visualizer, emit)
        self.widget = widget
        self.jobs = {"generate": self._generate, "attribute": self._attribute}

    def _generate(self, job: Job) -> None:
        payload = job.payload
        prompt = payload.get("prompt")
        target = self.visualizer.generate(prompt, payload.get("max_new_tokens"))
        self.emit({"type": "generated", "id": job.id, "prompt": prompt, "target": target})
        self._done(job, "complete")

    def _attribute(self, job: Job) -> None:
        request = self.visualizer.request(job.payload.get("settings") or {})
        self.emit({"type": "llm_started", "id": job.id, **request.describe()})
        self.widget.set_generation({"id": job.id, **request.describe(), "chunks": []})
        label = f"{request.method.name}: attributing the target"
        progress = ProgressReporter(self.emit, job, 0.0, 1.0, label)

        def on_chunk(chunk: Dict[str, Any]) -> None:
            record = self.widget.generation
            self.widget.set_generation({**record, "chunks": [*record.get("chunks", []), chunk]})
            self.emit({"type": "llm_rows", "id": job.id, **chunk})

        record = self.visualizer.attribute(request, on_chunk, progress)
        record = {"id": job.id, **record}
        self.widget.set_generation(record)
        # the rows already crossed the wire in llm_rows: the result carries the rest
        self.emit({"type": "llm_result", "id": job.id,
                   "record": {k: v for k, v in record.items() if k != "chunks"}})
        self._done(job, "complete")


class LLMWidget(VisualizerWidget):
    """The generation view's widget; create it with ``LLMAttributionVisualizer.render()``."""

    #: the last attribution (request, tokens, row chunks, sequence row), tensors as bytes
    generation = traitlets.Dict().tag(sync=True)
    state_keys = (*VisualizerWidget.state_keys, "generation")

    def make_session(self, visualizer: Any) -> ComputeSession:
        return LLMSession(visualizer, self._emit, self)

    def set_generation(self, record: Dict[str, Any]) -> None:
        """Store ``record`` without re-sending it (the browser builds it from the messages)."""
        quiet = self._quiet
        quiet.active = True
        try:
            self.generation = record
        finally:
            quiet.active = False
