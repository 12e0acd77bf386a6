"""Benchmark harness: ours vs captum 0.9.0 on the same calls, interleaved in one process.

A :class:`Case` holds two zero-argument callables doing the same work (ours, captum's) and a
comparison of their outputs. :func:`measure` warms both up, then alternates them for a number
of rounds (so drift in machine load hits both alike) and reports the median time of each, the
ratio ours/captum and whether the outputs agree. Ratios, not absolute times, are the result.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import torch


@dataclass
class Case:
    """One benchmark: the same work done by both libraries."""

    name: str
    family: str
    ours: Callable[[], Any]
    captum: Callable[[], Any]
    # Returns (agree, max_abs_diff); None means "compare with allclose(rtol 1e-5, atol 1e-6)".
    compare: Optional[Callable[[Any, Any], Agreement]] = None
    note: str = ""
    # Upper bound on ours/captum this case is expected to meet (reported, not enforced here).
    target_ratio: float = 1.05


@dataclass
class Agreement:
    agree: bool
    max_abs_diff: float


@dataclass
class Result:
    case: Case
    ours_seconds: float
    captum_seconds: float
    agreement: Agreement
    rounds: int

    @property
    def ratio(self) -> float:
        return self.ours_seconds / self.captum_seconds


def _flatten(value: Any) -> List[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _flatten(v)]
    return []


def allclose_agreement(ours: Any, theirs: Any, rtol: float = 1e-5, atol: float = 1e-6
                       ) -> Agreement:
    """Element-wise agreement of (nested) tensor outputs."""
    a, b = _flatten(ours), _flatten(theirs)
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        return Agreement(False, math.inf)
    worst = 0.0
    agree = True
    for x, y in zip(a, b):
        x, y = x.detach().double(), y.detach().double()
        worst = max(worst, (x - y).abs().max().item() if x.numel() else 0.0)
        agree &= bool(torch.allclose(x, y, rtol=rtol, atol=atol))
    return Agreement(agree, worst)


def _time(fn: Callable[[], Any], clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    fn()
    return clock() - start


def measure(case: Case, min_rounds: int = 5, max_rounds: int = 30,
            budget_seconds: float = 3.0, clock: Callable[[], float] = time.perf_counter
            ) -> Result:
    """Warm up both sides, then alternate ours/captum until ``budget_seconds`` or
    ``max_rounds`` (at least ``min_rounds``); medians of each side. ``clock``: wall time by
    default; ``time.process_time`` (CPU time) is steadier on a loaded machine with one
    thread, where other processes' share of the cores would otherwise count."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours_out = case.ours()
        captum_out = case.captum()
        compare = case.compare or allclose_agreement
        agreement = compare(ours_out, captum_out)
        ours_times: List[float] = []
        captum_times: List[float] = []
        spent = 0.0
        rounds = 0
        while rounds < min_rounds or (rounds < max_rounds and spent < budget_seconds):
            # Alternate which side goes first so neither always runs on a warmer cache.
            if rounds % 2 == 0:
                ours_times.append(_time(case.ours, clock))
                captum_times.append(_time(case.captum, clock))
            else:
                captum_times.append(_time(case.captum, clock))
                ours_times.append(_time(case.ours, clock))
            spent += ours_times[-1] + captum_times[-1]
            rounds += 1
    return Result(case, statistics.median(ours_times), statistics.median(captum_times),
                  agreement, rounds)


def geometric_mean(values: Sequence[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def report(results: Iterable[Result]) -> str:
    """A table of cases plus per-family geometric means and worst ratios."""
    results = list(results)
    lines = [f"{'case':58s} {'ours ms':>9s} {'captum ms':>10s} {'ratio':>7s} {'target':>7s} "
             f"{'agree':>6s} {'max|diff|':>10s}"]
    for r in results:
        lines.append(
            f"{r.case.name[:58]:58s} {1e3 * r.ours_seconds:9.2f} {1e3 * r.captum_seconds:10.2f} "
            f"{r.ratio:7.3f} {'<=' + format(r.case.target_ratio, '.2f'):>7s} "
            f"{'yes' if r.agreement.agree else 'NO':>6s} {r.agreement.max_abs_diff:10.2e}"
        )
    families: Dict[str, List[Result]] = {}
    for r in results:
        families.setdefault(r.case.family, []).append(r)
    lines.append("")
    for family, rs in families.items():
        worst = max(rs, key=lambda r: r.ratio)
        geomean = geometric_mean([r.ratio for r in rs])
        lines.append(
            f"{family}: {len(rs)} cases, geomean ratio {geomean:.3f}, "
            f"worst {worst.ratio:.3f} ({worst.case.name}), "
            f"all agree: {all(r.agreement.agree for r in rs)}"
        )
    return "\n".join(lines)


@dataclass
class Section:
    """Extra measurements a family reports besides ours-vs-captum cases (e.g. floors)."""

    title: str
    run: Callable[[], str]
    families: List[str] = field(default_factory=list)


# Prelude of a fresh-process memory probe: ``reset_peak()`` zeroes the kernel's peak-RSS mark
# (VmHWM, via /proc/self/clear_refs) so the peaks of imports and warm-up cannot hide the run's
# own, and returns a function giving the growth of the peak since then in KiB. Where the mark
# cannot be reset, it falls back to ru_maxrss (then an import peak can mask a small run).
PEAK_RSS_PRELUDE = r"""
import re, resource

def _status(key):
    with open("/proc/self/status") as f:
        return int(re.search(key + r":\s+(\d+)", f.read()).group(1))

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status("VmRSS")
        return lambda: _status("VmHWM") - before
    except OSError:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
"""

# glibc keeps freed heap pages mapped, so peak RSS would also count memory that is free;
# serving large blocks with mmap makes RSS track live tensors.
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def run_memory_probe(body: str, kwargs: Dict[str, Any]) -> float:
    """Run ``PEAK_RSS_PRELUDE + body`` in a fresh Python with ``kwargs`` as JSON in argv[1];
    ``body`` prints ``{"peak_growth_kib": ...}`` as its last line. Returns the growth in MiB."""
    env = {**os.environ, **ALLOCATOR_ENV}
    output = subprocess.run([sys.executable, "-c", PEAK_RSS_PRELUDE + body, json.dumps(kwargs)],
                            capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1])["peak_growth_kib"] / 1024
