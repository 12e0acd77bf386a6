"""Retrain the bundled demo models: ``python -m insight_widget.examples.train [--all|NAME ...]``.

Every model trains from fixed seeds on data generated (or written) for this project, so a
retrain reproduces the shipped weights up to floating-point differences between machines.
Weights are written to ``insight_widget/examples/weights/<name>.pt``. Training uses
``--threads`` CPU threads (default 2) so it stays polite on a shared machine.
"""

from __future__ import annotations

import argparse
import importlib
import time
from typing import List, Optional, Sequence

import torch

# model name -> module in insight_widget.examples providing train()
MODELS = {
    "shapes": "shapes",
    "shortcut": "shortcut",
    "sentiment": "sentiment",
    "tabular": "tabular",
    "vqa": "vqa",
    "llm": "llm",
}


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    parser = argparse.ArgumentParser(
        prog="python -m insight_widget.examples.train", description=__doc__.splitlines()[0]
    )
    parser.add_argument("models", nargs="*", choices=[[], *MODELS], metavar="NAME",
                        help=f"models to retrain: {', '.join(MODELS)}")
    parser.add_argument("--all", action="store_true", help="retrain every demo model")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = parser.parse_args(argv)
    names = list(MODELS) if args.all else list(dict.fromkeys(args.models))
    if not names:
        parser.error("name at least one model or pass --all")
    torch.set_num_threads(max(1, args.threads))
    for name in names:
        module = importlib.import_module(f"insight_widget.examples.{MODELS[name]}")
        start = time.perf_counter()
        print(f"== training {name}")
        module.train()
        print(f"== {name} done in {time.perf_counter() - start:.0f} s")
    return names


if __name__ == "__main__":
    main()
