"""GradientShap: captum parity with the same seeds, chunking, reproducibility, identities."""

import captum.attr as captum_attr
import numpy as np
import pytest
import torch
from torch import nn

from insight_widget.attr import GradientShap, attribution_progress, memory_budget

from .captum_oracle import assert_same, assert_same_delta
from .real_models import scenario_params


def seeded(seed=0):
    torch.manual_seed(seed)
    np.random.seed(seed)


def distribution_like(inputs, count=4, seed=5):
    generator = torch.Generator().manual_seed(seed)
    single = not isinstance(inputs, tuple)
    drawn = tuple(torch.randn(count, *x.shape[1:], generator=generator)
                  for x in ((inputs,) if single else inputs))
    return drawn[0] if single else drawn


def run_both(model, inputs, construct=None, **kwargs):
    ours = GradientShap(model, **(construct or {}))
    theirs = captum_attr.GradientShap(model, **(construct or {}))
    seeded(3)
    mine = ours.attribute(inputs, **kwargs)
    seeded(3)
    return mine, theirs.attribute(inputs, **kwargs)


@pytest.mark.parametrize("scenario", scenario_params())
@pytest.mark.parametrize("stdevs", [0.0, 0.1])
def test_matches_captum_on_real_models_with_the_same_seed(scenario, stdevs):
    mine, theirs = run_both(scenario.model, scenario.inputs,
                            baselines=distribution_like(scenario.inputs), n_samples=3,
                            stdevs=stdevs, return_convergence_delta=True, **scenario.call())
    assert_same_delta(mine, theirs)


def test_per_input_stdevs_callable_baselines_and_local_mode_match_captum():
    torch.manual_seed(0)
    model = TwoTowers()
    inputs = (torch.randn(3, 4), torch.randn(3, 2))
    distribution = (torch.randn(5, 4), torch.randn(2, 2))  # different counts per input
    mine, theirs = run_both(model, inputs, {"multiply_by_inputs": False},
                            baselines=lambda: distribution, stdevs=(0.2, 0.05), n_samples=4,
                            target=[0, 1, 1])
    assert_same(mine, theirs)


class TwoTowers(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 6), nn.Linear(2, 6)
        self.act, self.head = nn.Tanh(), nn.Linear(6, 2)

    def forward(self, x, y):
        return self.head(self.act(self.a(x) + self.b(y)))


@pytest.mark.parametrize("internal_batch_size", [1, 4, 7, 1000])
def test_chunked_rows_give_the_unchunked_result(internal_batch_size):
    model = TwoTowers()
    inputs = (torch.randn(3, 4), torch.randn(3, 2))
    distribution = (torch.randn(4, 4), torch.randn(4, 2))
    explainer = GradientShap(model)
    seeded(1)
    whole, whole_delta = explainer.attribute(inputs, distribution, n_samples=6, stdevs=0.3,
                                             target=1, return_convergence_delta=True)
    seeded(1)
    chunked, chunked_delta = explainer.attribute(
        inputs, distribution, n_samples=6, stdevs=0.3, target=1, return_convergence_delta=True,
        internal_batch_size=internal_batch_size)
    assert_same((chunked, chunked_delta), (whole, whole_delta))


def test_memory_budget_chunks_rows_with_the_same_result_and_progress():
    model = TwoTowers()
    x, y = torch.randn(2, 4), torch.randn(2, 2)
    explainer = GradientShap(model)
    seeded(2)
    whole = explainer.attribute((x, y), (torch.randn(3, 4), torch.randn(3, 2)), n_samples=50,
                                target=0)
    fractions = []
    seeded(2)
    with memory_budget(2048), attribution_progress(fractions.append):
        budgeted = explainer.attribute((x, y), (torch.randn(3, 4), torch.randn(3, 2)),
                                       n_samples=50, target=0)
    assert_same(budgeted, whole)
    assert len(fractions) > 1 and fractions == sorted(fractions) and fractions[-1] == 1.0


def test_seeded_runs_reproduce_and_different_seeds_differ():
    model = TwoTowers()
    inputs = (torch.randn(2, 4), torch.randn(2, 2))
    distribution = (torch.randn(4, 4), torch.randn(4, 2))
    results = []
    for seed in (7, 7, 8):
        seeded(seed)
        results.append(GradientShap(model).attribute(inputs, distribution, stdevs=0.1,
                                                     target=1)[0])
    assert torch.equal(results[0], results[1])
    assert not torch.allclose(results[0], results[2])


def test_linear_model_with_one_reference_gives_weight_times_difference():
    torch.manual_seed(4)
    model = nn.Linear(5, 3).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    reference = torch.randn(1, 5, dtype=torch.float64)
    got = GradientShap(model).attribute(x, reference, n_samples=7, target=2)
    torch.testing.assert_close(got, model.weight[2].detach() * (x - reference))


def test_linear_model_approaches_weight_times_difference_from_mean_reference():
    torch.manual_seed(5)
    model = nn.Linear(5, 1).double()
    x = torch.randn(2, 5, dtype=torch.float64)
    references = torch.randn(6, 5, dtype=torch.float64)
    samples = 4000
    seeded(6)
    got = GradientShap(model).attribute(x, references, n_samples=samples)
    expected = model.weight[0].detach() * (x - references.mean(0))
    # Each sample draws one of 6 references uniformly: standard error of the mean reference.
    tolerance = 4 * references.std(0) / samples ** 0.5 * model.weight[0].detach().abs()
    assert bool(((got - expected).abs() <= tolerance).all())


def test_attributions_sum_to_output_difference_in_expectation():
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    x = torch.randn(2, 3, dtype=torch.float64)
    references = torch.randn(5, 3, dtype=torch.float64)
    seeded(8)
    got, delta = GradientShap(model).attribute(x, references, n_samples=3000,
                                               return_convergence_delta=True)
    with torch.no_grad():
        reference_outputs = model(references).squeeze(1)
        expected = model(x).squeeze(1) - reference_outputs.mean()
    # Per sample, sum(a) = F(x) - F(drawn reference) + delta: both terms vary.
    spread = (delta.reshape(2, -1).std(1) + reference_outputs.std()) / 3000 ** 0.5
    assert bool(((got.sum(1) - expected).abs() <= 4 * spread).all())
    assert delta.shape == (6000,)
