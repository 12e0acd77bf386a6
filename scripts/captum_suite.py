"""Run Captum's own test suite against insight_widget's engine.

Usage::

    python scripts/captum_suite.py CAPTUM_CHECKOUT [--oracle] [pytest args...]

``CAPTUM_CHECKOUT`` is a local copy of the pytorch/captum repository (only its ``tests/``
folder is read; nothing of it is committed here). By default ``tests/attr`` and
``tests/metrics`` run with Captum's public attribution and metric names redirected to
``insight_widget.attr`` / ``insight_widget.metrics`` (see ``scripts/captum_redirect.py``).
``--oracle`` runs the same files against the installed captum 0.9.0 itself, which tells which
tests Captum's release passes (the repository's tests may be newer than the release).
``--json PATH`` writes {nodeid: outcome} for comparing the two runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    checkout = Path(argv[0]).resolve()
    rest = argv[1:]
    oracle = "--oracle" in rest
    rest = [a for a in rest if a != "--oracle"]
    json_out = None
    if "--json" in rest:
        i = rest.index("--json")
        json_out = Path(rest[i + 1]).resolve()
        del rest[i : i + 2]
    if not (checkout / "tests" / "attr").is_dir():
        print(f"{checkout} has no tests/attr folder", file=sys.stderr)
        return 2
    # Arguments naming files or folders of the checkout select tests; the rest go to pytest.
    targets = [a for a in rest if (checkout / a.split("::")[0]).exists()]
    options = [a for a in rest if a not in targets]
    if not targets:
        targets = ["tests/attr", "tests/metrics"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(checkout), env.get("PYTHONPATH", "")])
    env["CAPTUM_SUITE_ORACLE"] = "1" if oracle else "0"
    # Some of Captum's LLM tests ask the Hugging Face hub for tokenizers: fail fast offline.
    env.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        cmd = [
            sys.executable, "-m", "pytest", "-p", "captum_redirect", "-q",
            "-o", "addopts=", "-p", "no:cacheprovider",
            "--continue-on-collection-errors", "--rootdir", str(checkout),
            f"--junitxml={report}", *options, *targets,
        ]
        code = subprocess.call(cmd, cwd=checkout, env=env)
        if json_out is not None and report.exists():
            json_out.write_text(json.dumps(_outcomes(report), indent=1, sort_keys=True))
    return code


def _outcomes(report: Path) -> dict[str, str]:
    import xml.etree.ElementTree as ET

    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        nodeid = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if tag in kinds:
                outcome = tag
        outcomes[nodeid] = outcome
    return outcomes


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
