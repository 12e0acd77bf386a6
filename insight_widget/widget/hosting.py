"""Showing a visualiser: the widget, inline or in a side panel, ``serve()`` and HTML export.

One implementation for every visualiser on the widget machinery
(:class:`~insight_widget.widget.visualizer.AttributionVisualizer`,
:class:`~insight_widget.widget.llm_visualizer.LLMAttributionVisualizer`): a subclass names its
widget class in ``widget_class`` and its panel title in ``title``.
"""

from __future__ import annotations

from typing import Any, Optional


class WidgetHost:
    """``widget()``, ``render()``, ``serve()``, ``server_url`` and ``to_html()``."""

    title = "insight_widget"
    _widget: Any = None
    _server: Any = None

    def widget_class(self) -> type:
        from .widget import VisualizerWidget

        return VisualizerWidget

    def widget(self) -> Any:
        """The anywidget for this visualiser (created once)."""
        if self._widget is None:
            self._widget = self.widget_class()(self)
        return self._widget

    def render(self, debug: bool = True, side_panel: bool = False,
               title: Optional[str] = None) -> None:
        """Display the visualiser once; returns nothing, like Insights' ``render`` (so a cell
        ending in ``render()`` does not show it twice; ``widget()`` returns the widget).

        ``side_panel=True`` opens it in JupyterLab's right-hand side panel (``sidecar``);
        elsewhere (Notebook 7, VS Code, Colab, Voila, marimo) it is shown inline.
        ``debug`` is kept for Insights compatibility: errors always show in the UI.
        """
        from .display import show

        show(self.widget(), side_panel=side_panel, title=title or self.title)

    def serve(self, blocking: bool = False, debug: bool = False, port: Optional[int] = None,
              bind_all: bool = False, token: Optional[str] = None) -> int:
        """Serve the visualiser at ``http://localhost:<port>/?token=...`` (Insights'
        ``serve``), print that URL and return the port; ``blocking`` keeps serving in this
        thread. A second call stops the previous server first. ``token``: None draws a random
        one (see ``server_url``); ``""`` turns the check off, only without ``bind_all``.
        ``debug`` is accepted for Insights compatibility. See ``server.py`` for the checks."""
        from .server import VisualizerServer

        if self._server is not None:
            self._server.stop()
        self._server = VisualizerServer(self.widget(), port=port, bind_all=bind_all,
                                        token=token)
        print(f"Fetch data and view insight_widget at {self._server.url}")
        return self._server.start(blocking)

    @property
    def server_url(self) -> Optional[str]:
        """The URL of the page ``serve()`` runs, with its token (None before ``serve()``)."""
        return self._server.url if self._server is not None else None

    def to_html(self, path: Any = None) -> str:
        """A self-contained HTML page of what the widget shows (``Save HTML``)."""
        return self.widget().to_html(path)
