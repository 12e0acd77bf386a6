"""``python -m insight_widget.example``: the notebook it serves, its options, and (e2e) the real
thing — Voila serving the demo page, the visualisers rendering and fetching in Chromium, and a
clean stop on Ctrl-C."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import List

import nbformat
import pytest

from insight_widget import example
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS


def test_demo_notebook_is_valid_and_renders_one_visualiser_per_demo():
    notebook = nbformat.from_dict(example.demo_notebook(["shapes", "tabular"]))
    nbformat.validate(notebook)
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    renders = [s for s in code if "render()" in s]
    assert renders == ["apps.VISUALIZERS['shapes']().render();",
                       "apps.VISUALIZERS['tabular']().render();"]


def test_every_demo_has_a_visualiser_and_a_title():
    from insight_widget.examples import apps

    assert set(example.DEMOS) == set(apps.VISUALIZERS) == set(example.TITLES)


def test_options_are_validated(capsys):
    with pytest.raises(SystemExit):
        example.parse_args(["--port", "70000"])
    assert "--port must be in 1..65535" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        example.parse_args(["--demo", "imagenet"])
    args = example.parse_args(["--no-browser", "--demo", "vqa", "shapes"])
    assert args.no_browser and args.demo == ["vqa", "shapes"] and args.port is None


def test_without_voila_it_says_how_to_install_it(monkeypatch, capsys):
    real = example.importlib.util.find_spec
    monkeypatch.setattr(example.importlib.util, "find_spec",
                        lambda name: None if name == "voila" else real(name))
    assert example.main(["--no-browser"]) == 1
    assert 'pip install -e ".[app]"' in capsys.readouterr().err


class _Output:
    """Collects the process's output lines in a thread (so reading never blocks the test)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: List[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} in output:\n" + "\n".join(self.lines))


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _in_thread(function, *args) -> None:
    """Run ``function(*args)`` in a fresh thread and re-raise what it raised."""
    failure: List[BaseException] = []

    def run() -> None:
        try:
            function(*args)
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(900)
    if thread.is_alive():
        raise AssertionError("the browser session did not finish in 900 s")
    if failure:
        raise failure[0]


def _drive_the_page(url: str, errors: List[str], external: List[str]) -> None:
    """Open the demo page, wait for every visualiser, fetch in each, screenshot."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        def offline(route):  # this network is closed; fail fast and record who asked
            external.append(route.request.url)
            route.abort()

        page.route(re.compile(r"^https?://(?!localhost|127\.0\.0\.1)"), offline)
        page.goto(url, timeout=240_000)
        roots = page.locator('[data-testid="iw-root"]')
        # Voila executes the notebook while streaming the page: one visualiser per demo
        page.wait_for_function(
            "n => document.querySelectorAll('[data-testid=\"iw-root\"]').length === n",
            arg=len(example.DEMOS), timeout=240_000)
        for index, name in enumerate(example.DEMOS):
            root = roots.nth(index)
            if name == "llm":  # the generation view: attribute its first prompt's answer
                root.locator('[data-testid="iw-llm-attribute"]').click()
                root.locator('[data-testid="iw-seq-attr"]').wait_for(timeout=120_000)
                continue
            root.locator('[data-testid="iw-fetch"]').click()
            root.locator('[data-testid="iw-example"]').first.wait_for(timeout=120_000)
            root.locator('[data-testid="iw-example"] [data-testid="iw-attribution"]'
                         ).first.wait_for(timeout=120_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "example_app.png"))
        browser.close()


@pytest.mark.e2e
def test_example_serves_every_demo_in_the_browser_and_stops_on_ctrl_c():
    port = example.free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "insight_widget.example", "--no-browser", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True)
    output = _Output(process)
    try:
        url = output.wait_for(r"insight_widget demo: (http://\S+)", 180).group(1)
        assert url == f"http://localhost:{port}/"
        workdir = output.wait_for(r"(/\S*insight_widget_demo_\w+)/", 30).group(1)

        errors: List[str] = []
        external: List[str] = []
        # Playwright's sync API refuses to start in a thread whose asyncio loop runs (the e2e
        # session's browser fixture may hold one open), so the page is driven from a new thread
        _in_thread(_drive_the_page, url, errors, external)

        # only Voila's page template reaches for a CDN (an icon font); nothing of ours does
        assert all("fontawesome" in u for u in external), external
        widget_errors = [e for e in errors if "Failed to load resource" not in e]
        assert widget_errors == []

        process.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
        assert process.wait(60) == 0
        output.wait_for("stopping the demo server", 5)
        assert not _listening(port)
        assert not os.path.exists(workdir)
    finally:
        if process.poll() is None:  # a failure above: stop it the way a user would first
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


@pytest.mark.e2e
def test_voila_does_not_outlive_an_example_killed_hard():
    port = example.free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "insight_widget.example", "--no-browser", "--port", str(port),
         "--demo", "tabular"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    output = _Output(process)
    try:
        output.wait_for(r"insight_widget demo: http://", 180)
        workdir = output.wait_for(r"serving (/\S*insight_widget_demo_\w+)/", 5).group(1)
        assert _listening(port)
        process.kill()  # SIGKILL: no clean-up code runs in the example itself
        process.wait(10)
        deadline = time.monotonic() + 60
        while _listening(port) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _listening(port)
        shutil.rmtree(workdir)  # its temporary notebook is left behind: only that
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_the_llm_demo_is_the_generation_view_on_the_demo_lm():
    from insight_widget.examples import apps

    visualizer = apps.VISUALIZERS["llm"]()
    spec = visualizer.spec()
    assert spec["kind"] == "llm" and spec["llm"]["prompts"] == list(apps.LLM_PROMPTS)
    assert visualizer.generate(apps.LLM_PROMPTS[0], 1) == "paris"
