"""The visualiser in a marimo app (``marimo run``) in Chromium: it renders from a cold start,
fetches and draws."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest
from playwright.sync_api import expect

from .conftest import REPO, _free_port, server_process
from .notebook_cells import SETUP

pytestmark = pytest.mark.e2e

APP = '''import marimo

app = marimo.App()


@app.cell
def _():
{setup}
    return (visualizer,)


@app.cell
def _(visualizer):
    visualizer.widget()
    return


if __name__ == "__main__":
    app.run()
'''


@pytest.fixture
def marimo_app(tmp_path):
    path = tmp_path / "app.py"
    path.write_text(APP.format(setup=textwrap.indent(SETUP.strip(), "    ")), encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with server_process(
            [sys.executable, "-m", "marimo", "run", str(path), "--headless", "--no-token",
             "--host", "127.0.0.1", "--port", str(port)],
            {**os.environ, "PYTHONPATH": str(REPO)}, url, tmp_path / "marimo.log"):
        yield url


def test_marimo_renders_from_a_cold_start_and_fetches(marimo_app, lab_page):
    page = lab_page.page
    page.goto(marimo_app)
    root = page.locator('[data-testid="iw-root"]')
    root.wait_for(timeout=90_000)
    assert root.count() == 1
    page.locator('[data-testid="iw-fetch"]').click()
    # marimo puts the widget in a shadow root: Playwright's locators pierce it
    expect(page.locator('[data-testid="iw-example"] [data-testid="iw-attribution"]')
           ).to_have_count(4, timeout=60_000)
    print("marimo layout:", root.get_attribute("class"))
    assert [e for e in lab_page.errors if "Model not found" in e] == []
    assert [e for e in lab_page.errors if "insight_widget" in e or "iw-" in e] == []
