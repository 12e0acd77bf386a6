"""``AttributionVisualizer.serve()`` in Chromium: the standalone page fetches and draws."""

from __future__ import annotations

import pytest

from tests.widget.conftest import make_cifar_visualizer

pytestmark = pytest.mark.e2e


def test_served_page_fetches_streams_and_retargets(browser, capsys):
    visualizer = make_cifar_visualizer()
    port = visualizer.serve()
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        page.locator('[data-testid="iw-fetch"]').click()
        page.wait_for_function("document.querySelectorAll('[data-testid=\"iw-example\"]"
                               " [data-testid=\"iw-attribution\"]').length === 4",
                               timeout=30_000)
        other = page.locator('[data-testid="iw-prediction"]:not(.iw-active)').first
        name = other.inner_text().rsplit(" ", 1)[0]
        other.click()
        page.wait_for_function(
            "(name) => document.querySelector('[data-testid=\"iw-example\"] .iw-meta')"
            ".textContent.includes('target ' + name)", arg=name, timeout=30_000)
        assert errors == []
    finally:
        context.close()
        visualizer._server.stop()
