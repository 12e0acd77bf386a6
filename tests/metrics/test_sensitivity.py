"""sensitivity_max: parity with captum 0.9.0 on the same seed, properties, batching, bad input."""

import warnings

import captum.attr as captum_attr
import captum.metrics as captum_metrics
import numpy as np
import pytest
import torch
from captum.metrics._core.sensitivity import default_perturb_func as captum_default_perturb
from torch import nn

import insight_widget.attr as ours_attr
import insight_widget.metrics as ours

from ..attr.captum_oracle import assert_same
from ..attr.real_models import scenario_params, with_baselines


def both(explainer, model, inputs, seed=0, construct=None, **kwargs):
    """(ours, captum's) sensitivity_max, each library explaining with its own ``explainer``
    (torch and numpy seeded alike: GradientShap draws baselines with numpy)."""
    construct = construct or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(seed)
        np.random.seed(seed)
        mine = ours.sensitivity_max(getattr(ours_attr, explainer)(model, **construct).attribute,
                                    inputs, **kwargs)
        torch.manual_seed(seed)
        np.random.seed(seed)
        theirs = captum_metrics.sensitivity_max(
            contiguous(getattr(captum_attr, explainer)(model, **construct).attribute), inputs,
            **kwargs)
    return mine, theirs


def contiguous(explain):
    """Captum's sensitivity_max calls ``.view`` on explanations, which fails for
    non-contiguous gradients (e.g. through a transpose); copying changes no value."""

    def wrapped(*args, **kwargs):
        result = explain(*args, **kwargs)
        if isinstance(result, tuple):
            return tuple(t.contiguous() for t in result)
        return result.contiguous()

    return wrapped


@pytest.mark.parametrize("scenario", scenario_params(size=8))
def test_saliency_sensitivity_matches_captum_on_real_models(scenario):
    mine, theirs = both("Saliency", scenario.model, scenario.inputs, n_perturb_samples=3,
                        **scenario.call())
    assert_same(mine, theirs)


@pytest.mark.parametrize("scenario", scenario_params(size=8)[3:])
def test_integrated_gradients_sensitivity_with_baselines_matches_captum(scenario):
    mine, theirs = both("IntegratedGradients", scenario.model, scenario.inputs,
                        n_perturb_samples=2, max_examples_per_batch=4,
                        **with_baselines(scenario, n_steps=4))
    assert_same(mine, theirs)


@pytest.mark.parametrize("norm_ord", ["fro", 1, 3, float("inf"), float("-inf")])
@pytest.mark.parametrize("max_examples_per_batch", [None, 2, 5, 50])
def test_norms_and_chunkings_match_captum(norm_ord, max_examples_per_batch):
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).eval()
    mine, theirs = both("InputXGradient", model, torch.randn(3, 4), target=[0, 2, 1],
                        n_perturb_samples=5, norm_ord=norm_ord, perturb_radius=0.1,
                        max_examples_per_batch=max_examples_per_batch)
    assert_same(mine, theirs)


def test_custom_perturbation_with_and_without_radius_matches_captum():
    model = nn.Sequential(nn.Linear(4, 5), nn.Softplus(), nn.Linear(5, 2)).eval()
    x = torch.randn(4, 4)

    def gaussian(inputs, radius):
        return inputs + radius * torch.randn_like(inputs)

    def shift(inputs):
        return inputs + 0.05 * torch.rand_like(inputs)

    for perturb in (gaussian, shift):
        mine, theirs = both("Saliency", model, x, perturb_func=perturb, perturb_radius=0.3,
                            target=1, n_perturb_samples=4)
        assert_same(mine, theirs)


def test_default_perturb_func_draws_like_captum_in_every_dtype():
    for dtype in (torch.float32, torch.float64):
        inputs = (torch.randn(3, 4, dtype=dtype), torch.randn(3, 2, dtype=dtype))
        torch.manual_seed(5)
        mine = ours.default_perturb_func(inputs, 0.1)
        torch.manual_seed(5)
        theirs = captum_default_perturb(inputs, 0.1)
        assert_same(mine, theirs, rtol=0, atol=0)
    single = ours.default_perturb_func(torch.zeros(2, 3))
    assert isinstance(single, tuple) and float(single[0].abs().max()) <= 0.02


def test_sensitivity_of_saliency_on_linear_model_is_zero():
    linear = nn.Linear(5, 1)
    score = ours.sensitivity_max(ours_attr.Saliency(linear).attribute, torch.randn(4, 5),
                                 perturb_radius=0.5)
    assert torch.equal(score, torch.zeros(4))


def test_zero_explanation_is_not_normalised():
    x = torch.randn(3, 4)

    def shifted(inputs):
        # explanation = inputs - x: zero at x, the perturbation itself elsewhere
        return inputs - x.repeat_interleave(inputs.shape[0] // 3, dim=0)

    torch.manual_seed(1)
    score = ours.sensitivity_max(shifted, x, n_perturb_samples=4)
    torch.manual_seed(1)
    noise = torch.empty(12, 4).uniform_(-0.02, 0.02)
    expected = noise.norm(dim=1).reshape(3, 4).amax(1)
    assert torch.allclose(score, expected)


def test_explanation_func_sees_expanded_keyword_arguments():
    seen = []

    def explain(inputs, target, baselines, additional_forward_args, n_steps):
        seen.append((inputs.shape[0], target, baselines, additional_forward_args, n_steps))
        return inputs * 2

    x = torch.randn(3, 2)
    ours.sensitivity_max(explain, x, n_perturb_samples=2, target=[0, 1, 2],
                         baselines=torch.zeros(3, 2), additional_forward_args=torch.ones(3, 1),
                         n_steps=7)
    first, perturbed = seen
    assert first[0] == 3 and first[1] == [0, 1, 2] and first[4] == 7
    assert perturbed[0] == 6 and perturbed[1].tolist() == [0, 0, 1, 1, 2, 2]
    assert perturbed[2].shape == (6, 2) and perturbed[3][0].shape == (6, 1)
    assert perturbed[4] == 7


def test_nuclear_norm_and_bad_explanations_are_rejected():
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="norm_ord"):
        ours.sensitivity_max(lambda inputs: inputs, x, norm_ord="nuc")
    with pytest.raises(ValueError, match="one explanation per example"):
        ours.sensitivity_max(lambda inputs: inputs[:1], x)
    with pytest.raises(TypeError, match="explanation_func"):
        ours.sensitivity_max(None, x)


@pytest.mark.parametrize("explainer", ["GradientShap", "NoiseTunnel"])
def test_stochastic_and_perturbation_explainers_keep_captums_random_stream(explainer):
    """The explainers draw their own random numbers between sensitivity_max's draws: the
    results agree only if both libraries interleave them in the same order."""
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3)).eval()
    x = torch.randn(4, 5)
    kwargs = {"target": 2, "n_perturb_samples": 3, "max_examples_per_batch": 8}
    if explainer == "GradientShap":
        kwargs.update(baselines=torch.randn(6, 5), n_samples=4, stdevs=0.1)
        mine, theirs = both(explainer, model, x, **kwargs)
    else:
        kwargs.update(nt_samples=3, stdevs=0.3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.manual_seed(0)
            mine = ours.sensitivity_max(
                ours_attr.NoiseTunnel(ours_attr.Saliency(model)).attribute, x, **kwargs)
            torch.manual_seed(0)
            theirs = captum_metrics.sensitivity_max(
                captum_attr.NoiseTunnel(captum_attr.Saliency(model)).attribute, x, **kwargs)
    assert_same(mine, theirs)
