"""Every teaching notebook runs top to bottom (nbclient) with only bundled models and data,
within the CPU-time budget of a one-minute run on two CPU cores.

The notebooks are executed once per session, a few at a time (each in its own kernel), so
kernel start-up and imports overlap; each notebook's result is then checked by its own test.
"""

from __future__ import annotations

import json
import pathlib
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, NamedTuple, Optional

import nbformat
import pytest
from nbclient import NotebookClient

REPO = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
ARTIFACTS = REPO / "test-artifacts"
CPU_BUDGET_S = 60.0  # kernel CPU seconds (user + system, all threads) for the whole notebook
CONCURRENT_KERNELS = 3
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_CPU_PROBE = "import os as _os; _t = _os.times(); print('CPU', _t.user + _t.system)"


class Run(NamedTuple):
    notebook: Optional[nbformat.NotebookNode]
    error: Optional[BaseException]
    wall_s: float


def _execute(path: pathlib.Path) -> Run:
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(_CPU_PROBE))
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()  # raises CellExecutionError on the first failing cell
    except BaseException as error:  # reported by the notebook's own test
        return Run(None, error, time.perf_counter() - start)
    return Run(notebook, None, time.perf_counter() - start)


@pytest.fixture(scope="session")
def executed() -> Dict[str, Run]:
    with ThreadPoolExecutor(CONCURRENT_KERNELS) as pool:
        runs = dict(zip([p.stem for p in NOTEBOOKS], pool.map(_execute, NOTEBOOKS)))
    return runs


def test_there_are_the_teaching_notebooks():
    names = [path.stem for path in NOTEBOOKS]
    assert names == ["01_quickstart", "02_images", "03_text", "04_tabular", "05_multimodal",
                     "06_evaluating_attributions", "07_classroom_exercise", "08_llm",
                     "09_dataset"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom_within_budget(path, executed):
    run = executed[path.stem]
    if run.error is not None:
        raise run.error
    notebook = run.notebook
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    cpu = float(next(o.text for o in notebook.cells[-1].outputs
                     if o.output_type == "stream").split()[1])
    if "render()" in path.read_text(encoding="utf-8"):
        assert any(WIDGET_VIEW in o.get("data", {}) for o in outputs), "no visualiser shown"
    _record(path.stem, run.wall_s, cpu)
    assert cpu < CPU_BUDGET_S, f"{path.name} used {cpu:.1f} CPU seconds"


def _record(name: str, wall: float, cpu: float) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "notebook_times.json"
    times = json.loads(log.read_text()) if log.exists() else {}
    times[name] = {f"wall_s_with_{CONCURRENT_KERNELS}_concurrent": round(wall, 1),
                   "kernel_cpu_s": round(cpu, 1)}
    log.write_text(json.dumps(times, indent=1, sort_keys=True))
