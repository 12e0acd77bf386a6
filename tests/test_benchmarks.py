"""The benchmark command keeps working: cases build, both libraries agree, probes measure."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from benchmarks.harness import run_memory_probe

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_run_reports_agreement_for_every_family():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--case", "mlpN64", "--no-sections",
         "--threads", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    )
    summaries = re.findall(r"^(\w+): (\d+) cases, geomean ratio ([0-9.]+).*all agree: (\w+)$",
                           result.stdout, flags=re.MULTILINE)
    assert {family for family, *_ in summaries} == {"gradient", "layer_neuron", "metrics",
                                                   "perturbation"}
    for family, count, geomean, agree in summaries:
        assert int(count) > 0, family
        assert float(geomean) > 0, family
        assert agree == "True", f"{family}: outputs differ from captum\n{result.stdout}"


def test_memory_probe_sees_a_peak_after_imports_and_warm_up():
    # Importing torch peaks far above 8 MiB; the probe must still see this run's own 64 MiB.
    body = (
        "import json, torch\n"
        "torch.ones(32 << 20, dtype=torch.uint8)  # warm-up peak before the reset\n"
        "peak_growth = reset_peak()\n"
        "x = torch.ones(64 << 20, dtype=torch.uint8); del x\n"
        "print(json.dumps({'peak_growth_kib': peak_growth()}))\n"
    )
    growth = run_memory_probe(body, {})
    assert 60 <= growth <= 80, growth
    idle = run_memory_probe(body.replace("64 << 20", "1"), {})
    assert idle < 8, idle
