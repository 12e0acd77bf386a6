"""A real JupyterLab server and Debian's Chromium driven by Playwright (package fixtures).

The server runs in its own process group with temporary config, runtime, settings and root
directories, and is killed in teardown. Notebooks are written into its root by the tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Iterator, List

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync",
]
REPO = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLab:
    def __init__(self, url: str, root: pathlib.Path) -> None:
        self.url = url
        self.root = root

    def write_notebook(self, name: str, cells: List[str]) -> str:
        notebook = {
            "cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}",
                       "metadata": {}, "outputs": [], "source": source}
                      for i, source in enumerate(cells)],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5,
        }
        (self.root / name).write_text(json.dumps(notebook), encoding="utf-8")
        return name


# package scope: torn down after the last test in tests/e2e, so later tests can start their own
# Playwright (two sync Playwright instances cannot run at once) and no server lingers
@pytest.fixture(scope="package")
def jupyter_lab(tmp_path_factory) -> Iterator[JupyterLab]:
    base = tmp_path_factory.mktemp("jupyter")
    root, config, runtime, settings = (base / d for d in ("root", "config", "runtime",
                                                           "settings"))
    for directory in (root, config, runtime, settings):
        directory.mkdir()
    # no "news" toast over the widget in screenshots
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_RUNTIME_DIR": str(runtime),
           "JUPYTERLAB_SETTINGS_DIR": str(settings), "PYTHONPATH": str(REPO),
           "ANYWIDGET_HMR": "0"}
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
        "--IdentityProvider.token=", "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True", "--LabApp.expose_app_in_browser=True",
        # the same server serves Notebook 7 (/notebooks/...) when `notebook` is installed
        "--JupyterNotebookApp.expose_app_in_browser=True",
        "--allow-root", f"--ServerApp.root_dir={root}"]
    url = f"http://127.0.0.1:{port}"
    with server_process(command, env, f"{url}/api/status", base / "server.log"):
        yield JupyterLab(url, root)


@contextlib.contextmanager
def server_process(command: List[str], env: dict, ready_url: str,
                   log_path: pathlib.Path) -> Iterator[None]:
    """Run ``command`` in its own process group until ``ready_url`` answers (60 s at most);
    kill the whole group afterwards."""
    log = open(log_path, "w")  # noqa: SIM115 - closed in teardown
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(ready_url, timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[2:4]} did not start:\n"
                                       + log_path.read_text()) from None
                time.sleep(0.3)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        log.close()


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A JupyterLab page that records console errors."""

    def __init__(self, page) -> None:
        self.page = page
        self.errors: List[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open_and_run(self, lab: JupyterLab, notebook: str, app: str = "lab") -> None:
        """Open ``notebook`` in JupyterLab (``app="lab"``) or Notebook 7 (``"notebook"``) and
        run all its cells."""
        page = self.page
        page.goto(f"{lab.url}/lab/tree/{notebook}?reset" if app == "lab"
                  else f"{lab.url}/notebooks/{notebook}")
        page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget"
                               " && window.jupyterapp.shell.currentWidget.sessionContext",
                               timeout=60_000)
        # running before the kernel is idle pops a "Select Kernel" dialog
        page.wait_for_function(
            "(() => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session"
            "?.kernel; return k && k.connectionStatus === 'connected' && k.status === 'idle'; })()",
            timeout=60_000)
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


@pytest.fixture
def lab_page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1700, "height": 1500})
    page = context.new_page()
    yield Page(page)
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> pathlib.Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
