"""The visualiser in Notebook 7 (the same Jupyter server as the JupyterLab tests): ``render()``
as a cell's last line shows it once, and ``render(side_panel=True)`` with sidecar installed
(Notebook 7 has no side area) falls back inline, visibly, and works."""

from __future__ import annotations

import pytest

from .notebook_cells import SETUP

pytestmark = pytest.mark.e2e


def test_side_panel_request_falls_back_inline_once_and_fetches(jupyter_lab, lab_page):
    notebook = jupyter_lab.write_notebook(
        "notebook7.ipynb", [SETUP, "visualizer.render(side_panel=True)"])
    lab_page.open_and_run(jupyter_lab, notebook, app="notebook")
    page = lab_page.page
    page.locator('[data-testid="iw-root"]').wait_for(timeout=90_000)
    assert page.locator('[data-testid="iw-root"]').count() == 1  # displayed exactly once
    assert "no side panel" in page.locator(".iw-fallback").inner_text()
    page.locator('[data-testid="iw-fetch"]').click()
    page.wait_for_function("document.querySelectorAll('[data-testid=\"iw-example\"]"
                           " [data-testid=\"iw-attribution\"]').length === 4", timeout=60_000)
    assert page.locator('[data-testid="iw-root"]').count() == 1
    assert [e for e in lab_page.errors if "insight_widget" in e or "iw-" in e] == []
