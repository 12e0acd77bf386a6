"""``python -m insight_widget.example``: the visualiser on the bundled demo models, in a browser.

No Jupyter needed: this writes a small notebook (one visualiser per demo model) into a
temporary directory, serves it with Voila (``pip install -e ".[app]"``), prints the URL and
opens it in the default browser. Ctrl-C stops the server and removes the temporary files.

Options: ``--port`` (default: a free port), ``--no-browser``, ``--demo`` (which demos to show,
default all), ``--ip`` (default 127.0.0.1).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import webbrowser
from pathlib import Path
from typing import List, Optional, Sequence

DEMOS = ("shapes", "vqa", "sentiment", "tabular", "llm")
TITLES = {
    "shapes": "Shapes: which shape is in the picture?",
    "vqa": "Image + question: what shape? what colour?",
    "sentiment": "Sentiment of short reviews",
    "tabular": "Bike-rental demand from the weather and the hour",
    "llm": "A tiny language model: which words of the prompt made it answer so?",
}
NOTEBOOK = "insight_widget_demo.ipynb"
STARTUP_TIMEOUT = 120.0  # seconds for Voila to answer HTTP (a loaded machine is slow)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def demo_notebook(demos: Sequence[str]) -> dict:
    """The nbformat-4 notebook Voila serves: a title, then one visualiser per demo."""
    ids = iter(range(1000))

    def markdown(text: str) -> dict:
        return {"cell_type": "markdown", "id": f"cell-{next(ids)}", "metadata": {},
                "source": text}

    def code(source: str) -> dict:
        return {"cell_type": "code", "execution_count": None, "id": f"cell-{next(ids)}",
                "metadata": {}, "outputs": [], "source": source}

    cells = [
        markdown("# insight_widget — demo models\n\nPress **Fetch** to load examples, click a "
                 "predicted class to attribute to it, and switch method, arguments, baseline "
                 "and colouring above the examples; in the language model's view, **Generate** "
                 "a continuation and **Attribute** it. Every model and data set is bundled "
                 "with the package; nothing is downloaded."),
        code("import torch\ntorch.set_num_threads(2)\nfrom insight_widget.examples import apps"),
    ]
    for name in demos:
        cells.append(markdown(f"## {TITLES[name]}"))
        cells.append(code(f"apps.VISUALIZERS[{name!r}]().render();"))
    return {"cells": cells,
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def write_notebook(directory: Path, demos: Sequence[str]) -> Path:
    import json

    path = directory / NOTEBOOK
    path.write_text(json.dumps(demo_notebook(demos), indent=1), encoding="utf-8")
    return path


def voila_command(notebook: Path, port: int, ip: str) -> List[str]:
    return [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--no-browser",
            f"--Voila.ip={ip}", "--Voila.port_retries=0", "--theme=light",
            "--VoilaConfiguration.show_tracebacks=True",
            # Notebook 7's JupyterLab extension (installed with `notebook`) fails to load in
            # Voila's page ("The getter for the shared module is not a function") and has
            # nothing to offer a dashboard
            "--VoilaConfiguration.extension_denylist=@jupyter-notebook/lab-extension"]


def wait_until_serving(host: str, port: int, process: subprocess.Popen,
                       timeout: float) -> None:
    """Wait until ``host:port`` accepts connections; raise if the server exits first or
    ``timeout`` passes. (Connecting only: requesting the page would start a kernel.)"""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=2).close()
            return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"Voila exited with code {process.returncode}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"Voila did not listen on port {port} within "
                                   f"{timeout:.0f} s") from None
            time.sleep(0.3)


def _die_with_parent() -> None:
    """In the Voila child (Linux): get SIGTERM when this process dies, even by SIGKILL, so
    Voila never outlives the command that started it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # best effort: Ctrl-C and `kill` are handled by stop() anyway


def stop(process: subprocess.Popen) -> None:
    """Stop Voila and its kernels (its own process group): SIGTERM, then SIGKILL."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m insight_widget.example",
        description="Open the insight_widget visualiser on the bundled demo models (via Voila).")
    parser.add_argument("--port", type=int, default=None,
                        help="port to serve on (default: a free port)")
    parser.add_argument("--ip", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--no-browser", action="store_true",
                        help="print the URL but do not open a browser")
    parser.add_argument("--demo", nargs="+", choices=[*DEMOS, "all"], default=["all"],
                        help="which demos to show (default: all)")
    args = parser.parse_args(argv)
    if args.port is not None and not 0 < args.port < 65536:
        parser.error(f"--port must be in 1..65535, got {args.port}")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if importlib.util.find_spec("voila") is None:
        print("The standalone demo is served by Voila, which is not installed.\n"
              'Install the app extra:  pip install -e ".[app]"   (or pip install voila)',
              file=sys.stderr)
        return 1
    demos = list(DEMOS) if "all" in args.demo else list(dict.fromkeys(args.demo))
    port = args.port if args.port is not None else free_port(args.ip)
    workdir = Path(tempfile.mkdtemp(prefix="insight_widget_demo_"))
    notebook = write_notebook(workdir, demos)
    host = "localhost" if args.ip in ("127.0.0.1", "0.0.0.0") else args.ip
    url = f"http://{host}:{port}/"
    env = {**os.environ, "ANYWIDGET_HMR": "0"}
    # own process group: Ctrl-C reaches only us, and stop() ends Voila and its kernel together
    process = subprocess.Popen(voila_command(notebook, port, args.ip), cwd=workdir, env=env,
                               start_new_session=True,
                               preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    # Ctrl-C must work even when started from a shell that ignores SIGINT for background jobs,
    # and `kill` stops as cleanly as Ctrl-C
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        wait_until_serving("127.0.0.1" if args.ip == "0.0.0.0" else args.ip, port, process,
                           STARTUP_TIMEOUT)
        print(f"serving {notebook}", flush=True)
        print(f"insight_widget demo: {url}  (Ctrl-C to stop)", flush=True)
        if not args.no_browser:
            webbrowser.open(url)
        return process.wait()
    except KeyboardInterrupt:
        print("\nstopping the demo server", flush=True)
        return 0
    except RuntimeError as error:
        print(f"insight_widget demo: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
