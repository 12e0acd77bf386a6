"""Default batching of the perturbation engine: cache-sized first calls, then growth only
while the measured time per perturbed copy falls. Times come from a fake clock driven by
the model's own row counts, so the tests do not depend on this machine's speed or load."""

import pytest
import torch
from torch import nn

import insight_widget.attr as ia
from insight_widget.attr._utils import perturbation
from insight_widget.attr._utils.batching import CopiesSearch


class FakeClock:
    """``perturbation.clock`` stand-in: advanced by the model by a cost of its rows."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class CostedLinear(nn.Module):
    """A linear model whose forward advances ``clock`` by ``cost(rows)`` and records rows."""

    def __init__(self, clock, cost, features=6):
        super().__init__()
        self.linear = nn.Linear(features, 3)
        self.clock, self.cost, self.rows = clock, cost, []

    def forward(self, x):
        self.rows.append(x.shape[0])
        self.clock.now += self.cost(x.shape[0])
        return self.linear(x)


def compute_bound(rows):  # time per row grows with the call (caches spill)
    return rows * (1.0 + 0.2 * rows)


def overhead_bound(rows):  # a fixed cost per call dominates
    return 10.0 + 0.01 * rows


@pytest.mark.parametrize("start", [1, 3])
def test_search_keeps_the_start_when_larger_calls_are_slower_per_copy(start):
    search = CopiesSearch(start=start, limit=64)
    assert search.size == start
    size = search.record(start, compute_bound(start))
    assert size == 2 * start
    assert search.record(size, compute_bound(size)) == start
    assert search.record(start, 0.001) == start  # settled: later chunks do not move it


def test_search_doubles_up_to_the_limit_while_calls_get_cheaper_per_copy():
    search = CopiesSearch(start=1, limit=20)
    sizes = [search.size]
    while True:
        size = search.record(sizes[-1], overhead_bound(sizes[-1]))
        if size == sizes[-1]:
            break
        sizes.append(size)
    assert sizes == [1, 2, 4, 8, 16, 20]


def test_search_ignores_a_truncated_last_chunk():
    search = CopiesSearch(start=4, limit=64)
    assert search.record(3, 1.0) == 4  # fewer copies than asked: no evidence about size 4
    assert search.record(4, 4.0) == 8


def ablate(model, x, monkeypatch, cache_bytes):
    monkeypatch.setattr(perturbation, "CACHE_BYTES_TARGET", cache_bytes)
    monkeypatch.setattr(perturbation, "clock", model.clock)
    return ia.FeatureAblation(model).attribute(x, target=1)


def test_compute_bound_model_keeps_one_copy_per_pass_after_one_larger_trial(monkeypatch):
    torch.manual_seed(0)
    x = torch.randn(2, 6)
    model = CostedLinear(FakeClock(), compute_bound)
    ablate(model, x, monkeypatch, cache_bytes=1)  # cache-sized start: one copy (2 rows)
    # unperturbed pass, one copy, a two-copy trial (slower per copy), then one copy each
    assert model.rows == [2, 2, 4, 2, 2, 2]


def test_overhead_bound_model_grows_its_passes_until_the_work_is_done(monkeypatch):
    torch.manual_seed(0)
    x = torch.randn(2, 6)
    model = CostedLinear(FakeClock(), overhead_bound)
    ablate(model, x, monkeypatch, cache_bytes=1)
    assert model.rows == [2, 2, 4, 6]  # 1, 2, then the remaining 3 of 6 copies


def test_batch_sizing_never_changes_the_attributions(monkeypatch):
    torch.manual_seed(0)
    x = torch.randn(3, 6)
    results = []
    for cost, cache_bytes in ((compute_bound, 1), (overhead_bound, 1), (compute_bound, 1 << 30)):
        model = CostedLinear(FakeClock(), cost)
        torch.manual_seed(1)
        model.linear.reset_parameters()
        results.append(ablate(model, x, monkeypatch, cache_bytes))
    for other in results[1:]:
        assert torch.equal(results[0], other)


def test_first_perturbed_pass_holds_one_copy_when_a_copy_fills_the_cache_target():
    # 64 channels of 32x32 float32 per row: 256 KiB; 4 examples per copy fill the 1 MiB target.
    rows = []
    model = nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(64, 2)).eval()
    model.register_forward_pre_hook(lambda m, args: rows.append(args[0].shape[0]))
    mask = torch.arange(4).view(1, 1, 2, 2).repeat_interleave(16, 2).repeat_interleave(16, 3)
    ia.FeatureAblation(model).attribute(torch.randn(4, 1, 32, 32), target=0, feature_mask=mask)
    assert rows[:2] == [4, 4]
