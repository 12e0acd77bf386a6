"""The wheel carries the demo weights and data, so the examples work from a plain install."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import zipfile

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "insight_widget" / "examples"


def test_wheel_contains_every_bundled_weight_and_data_file_and_they_are_small(tmp_path):
    # offline build from the installed hatchling; the front end is checked elsewhere
    env = {**os.environ, "SKIP_JUPYTER_BUILDER": "1"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(tmp_path)],
                   check=True, env=env, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("insight_widget-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled = sorted(p for p in EXAMPLES.rglob("*")
                     if p.is_file() and p.parent.name in ("weights", "data")
                     and p.suffix in (".pt", ".json", ".tsv", ".txt"))
    assert {p.stem for p in bundled if p.suffix == ".pt"} == {
        "shapes", "shortcut", "sentiment", "tabular", "vqa", "llm"}
    for path in bundled:
        assert path.relative_to(REPO).as_posix() in names
    assert "insight_widget/example.py" in names
    # the front end: the widget's bundle and the standalone page's script (export, serve())
    for bundle in ("widget.js", "widget.css", "page.js"):
        assert f"insight_widget/static/{bundle}" in names, "build the front end: npm run build"
    assert sum(p.stat().st_size for p in bundled) < 1_500_000  # measured 1.01 MB
