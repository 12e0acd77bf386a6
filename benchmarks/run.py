"""Run the benchmarks: ``python -m benchmarks.run [--family NAME ...] [--quick] [--slow]``.

Prints, per case, the median time of ours and of captum 0.9.0 on the same call (interleaved in
this process), their ratio and whether the outputs agree; then per-family geometric means and
each family's extra sections (e.g. Integrated Gradients against its floor, peak memory).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from typing import List, Set

import torch

from . import cases as cases_package
from .harness import Case, Result, Section, measure, report


def load_family_modules() -> List[object]:
    return [importlib.import_module(f"{cases_package.__name__}.{m.name}")
            for m in pkgutil.iter_modules(cases_package.__path__)]


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--family", action="append", help="only these families (repeatable)")
    parser.add_argument("--case", help="only cases whose name contains this text")
    parser.add_argument("--quick", action="store_true", help="fewer rounds per case")
    parser.add_argument("--slow", action="store_true",
                        help="also the slow cases (transformers' ResNet-50 at 224x224), 3 rounds")
    parser.add_argument("--no-sections", action="store_true", help="skip extra sections")
    parser.add_argument("--section", help="only sections whose title contains this text (and "
                                          "no cases unless --case is given)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time calls in process CPU time (steadier on a loaded machine; "
                             "use with --threads 1)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    modules = load_family_modules()
    all_cases: List[Case] = []
    slow_names: Set[str] = set()
    sections: List[Section] = []
    for module in modules:
        family = module.__name__.rsplit(".", 1)[-1]
        if args.family and family not in args.family:
            continue
        if getattr(module, "OPT_IN", False) and not args.family:
            continue  # heavy families run only when named with --family
        all_cases.extend(module.cases())
        if args.slow:
            slow = getattr(module, "slow_cases", lambda: [])()
            slow_names.update(case.name for case in slow)
            all_cases.extend(slow)
        sections.extend(getattr(module, "sections", lambda: [])())
    if args.case:
        all_cases = [c for c in all_cases if args.case in c.name]
    elif args.section:
        all_cases = []
    if args.section:
        sections = [s for s in sections if args.section in s.title]

    results: List[Result] = []
    started = time.perf_counter()
    for case in all_cases:
        clock = time.process_time if args.cpu_time else time.perf_counter
        if case.name in slow_names:  # seconds per call: a few rounds
            result = measure(case, min_rounds=3, max_rounds=3, clock=clock)
        else:
            result = measure(case, min_rounds=3 if args.quick else 5,
                             max_rounds=8 if args.quick else 30,
                             budget_seconds=1.0 if args.quick else 3.0, clock=clock)
        results.append(result)
        print(f"  {case.name}: ratio {result.ratio:.3f} agree {result.agreement.agree}",
              file=sys.stderr, flush=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{'CPU' if args.cpu_time else 'wall'} time, "
          f"{len(results)} cases in {time.perf_counter() - started:.0f} s\n")
    print(report(results))
    if not args.no_sections and (args.section or not args.case):
        for section in sections:
            print(f"\n## {section.title}\n{section.run()}")
    return 0 if all(r.agreement.agree for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
