"""Captum's 77 argument configurations, gradient family, compared with captum 0.9.0."""

import pytest

from .captum_oracle import assert_same, assert_same_delta, config_cases, run_pair

DETERMINISTIC = ["IntegratedGradients", "Saliency", "InputXGradient"]


@pytest.mark.parametrize(
    ("config", "name"),
    [c for c in config_cases(DETERMINISTIC) if not c.values[0].get("noise_tunnel")],
)
def test_matches_captum_on_its_configurations(config, name):
    ours, theirs = run_pair(config, name)
    assert_same(ours, theirs)


@pytest.mark.parametrize(
    ("config", "name"),
    [c for c in config_cases(["IntegratedGradients"]) if not c.values[0].get("noise_tunnel")],
)
def test_integrated_gradients_delta_matches_captum(config, name):
    ours, theirs = run_pair(config, name, return_convergence_delta=True)
    assert_same_delta(ours, theirs)
