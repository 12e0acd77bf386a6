"""Several prompts per call: argument checks and shared scoring passes for ``attribute_batch``.

A perturbation method's evaluations depend on its input, its arguments and the random draws,
never on the values it gets back (FeatureAblation, Shapley sampling, Lime and Kernel SHAP
choose every perturbation before or independently of the outputs). So N prompts share their
model passes in three phases, and each prompt's result is the one its own ``attribute`` call
gives:

1. **record**: each prompt's method runs as usual (same random state, same order as N
   single calls) with a forward that only notes the prompt ids it is asked to score and
   answers zeros;
2. **score**: the noted (prompt, target) pairs of all N prompts, deduplicated, go through the
   model together (:meth:`TargetScorer.score`: right-padded rows of different lengths and
   targets in one pass), longest first, as many rows per pass as the memory budget holds;
3. **replay**: from the random state of phase 1's start, each prompt's method runs again and
   reads its scores from the table (a pair the table lacks is scored on the spot, so a method
   whose evaluations did depend on its outputs would still be right, only slower).
"""

from __future__ import annotations

import random
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from .._utils.batching import ActivationMeter, get_memory_budget
from .._utils.perturbation import _ACTIVATION_FACTOR
from .._utils.validation import describe
from .scoring import TargetScorer, padded_groups

Key = Tuple[int, Tuple[int, ...]]  # (target index, prompt ids)


def check_batch(inps: Any, targets: Any, kind: type) -> Tuple[List[Any], List[Any]]:
    """The inputs and targets of ``attribute_batch`` as two lists of equal length N >= 1.

    ``targets`` is None (every target generated) or one target (text, ids or None) per input.
    """
    if not isinstance(inps, (list, tuple)):
        raise TypeError(f"`inps` must be a list of {kind.__name__} (one per prompt); got "
                        f"{describe(inps)}. For one prompt use attribute().")
    if not inps:
        raise ValueError("`inps` must hold at least one input; got an empty list.")
    for index, inp in enumerate(inps):
        if not isinstance(inp, kind):
            raise TypeError(f"`inps[{index}]` must be a {kind.__name__}; got {describe(inp)}.")
    if targets is None:
        return list(inps), [None] * len(inps)
    if not isinstance(targets, (list, tuple)):
        raise TypeError("`targets` must be None or a list with one target (text, token ids or "
                        f"None) per input; got {describe(targets)}.")
    if len(targets) != len(inps):
        raise ValueError(f"`targets` must have one entry per input: {len(inps)} inputs, "
                         f"{len(targets)} targets.")
    return list(inps), list(targets)


def per_prompt(name: str, value: Any, n: int) -> List[Any]:
    """A per-prompt keyword argument (``baselines``): None for all, or a list of n."""
    if value is None:
        return [None] * n
    if not isinstance(value, list) or len(value) != n:
        raise ValueError(f"`{name}` in attribute_batch must be None or a list with one entry "
                         f"per input ({n}); got {describe(value)}.")
    return value


class RandomState:
    """The torch, NumPy and Python random states (the methods and baselines draw from all)."""

    def __init__(self) -> None:
        self.torch = torch.get_rng_state()
        self.numpy = np.random.get_state()
        self.python = random.getstate()

    def restore(self) -> None:
        torch.set_rng_state(self.torch)
        np.random.set_state(self.numpy)
        random.setstate(self.python)


def _key(index: int, prompt: Tensor) -> Key:
    return index, tuple(int(i) for i in prompt.tolist())


class _BatchScorer(TargetScorer):
    """A scorer for input ``index`` of a batch, with the batch's table of (key -> tensor)."""

    def __init__(self, model: Any, target: Tensor, index: int, table: Dict[Key, Tensor],
                 forward_in_tokens: bool) -> None:
        super().__init__(model, target, forward_in_tokens)
        self.index, self.table = index, table


class RecordingScorer(_BatchScorer):
    """Phase 1: notes the prompts to score (in its table: key -> prompt ids); answers
    zeros."""

    def log_probs(self, prompts: Sequence[Tensor]) -> Tensor:
        for prompt in prompts:
            self.table.setdefault(_key(self.index, prompt), prompt)
        return torch.zeros(len(prompts), len(self.target), device=self.device)


class TableScorer(_BatchScorer):
    """Phase 3: the scores of phase 2 (key -> scores; pairs it lacks are scored here)."""

    def log_probs(self, prompts: Sequence[Tensor]) -> Tensor:
        keys = [_key(self.index, p) for p in prompts]
        missing = [r for r, key in enumerate(keys) if key not in self.table]
        if missing:
            scores = super().log_probs([prompts[r] for r in missing])
            for r, values in zip(missing, scores):
                self.table[keys[r]] = values
        return torch.stack([self.table[key] for key in keys]) if keys else \
            torch.empty(0, len(self.target), device=self.device)


def score_shared(model: Any, targets: Sequence[Tensor], wanted: Dict[Key, Tensor],
                 forward_in_tokens: bool) -> Dict[Key, Tensor]:
    """Phase 2: every wanted (target index, prompt) pair's (T,) log-probabilities.

    Pairs go longest first in passes of bounded padding (:func:`padded_groups`); the first
    pass holds one row and measures its largest activation (:class:`ActivationMeter`), which
    bounds the rows of the others within the memory budget (the perturbation engine's rule).
    """
    keys = list(wanted)
    table: Dict[Key, Tensor] = {}
    if not keys:
        return table
    lengths = [len(k[1]) + len(targets[k[0]]) for k in keys]
    scorer = TargetScorer(model, targets[keys[0][0]], forward_in_tokens)
    module = model if isinstance(model, nn.Module) else None

    def run(chunk: List[Key]) -> None:
        scores = scorer.score([wanted[k] for k in chunk], [targets[k[0]] for k in chunk])
        table.update(zip(chunk, scores))

    longest = max(range(len(keys)), key=lambda i: lengths[i])
    with torch.no_grad():
        with ActivationMeter(module, 1) as meter:
            run([keys[longest]])
        per_row = max(1, _ACTIVATION_FACTOR * meter.largest_row_bytes)
        rest = [i for i in range(len(keys)) if i != longest]
        max_rows = max(1, get_memory_budget() // per_row)
        for group in padded_groups([lengths[i] for i in rest], scorer.device, max_rows):
            run([keys[rest[g]] for g in group])
    return table
