"""Captum's 77 argument configurations, gradient family, compared with captum 0.9.0.

Deterministic methods agree to rtol 1e-5 / atol 1e-6 (deltas with ``assert_same_delta``).
Stochastic ones (NoiseTunnel, GradientShap) draw their randomness in Captum's order from the
same generators, so with the same torch and NumPy seeds they agree to the same tolerance.
"""

import captum.attr as captum_attr
import numpy as np
import pytest

import insight_widget.attr as ours_attr

from .captum_oracle import assert_same, assert_same_delta, config_cases, run, run_pair

DETERMINISTIC = ["IntegratedGradients", "Saliency", "InputXGradient", "DeepLift",
                 "GuidedBackprop", "Deconvolution"]
WITH_DELTA = ["IntegratedGradients", "DeepLift"]
SEED = 11


def _cases(names, noise_tunnel):
    return [c for c in config_cases(names)
            if bool(c.values[0].get("noise_tunnel")) == noise_tunnel]


def run_seeded_pair(config, name, **overrides):
    """Both libraries on the same call, torch and NumPy seeded identically before each."""
    np.random.seed(SEED)
    ours = run(ours_attr, config, name, seed=SEED, **overrides)
    np.random.seed(SEED)
    theirs = run(captum_attr, config, name, seed=SEED, **overrides)
    return ours, theirs


@pytest.mark.parametrize(("config", "name"), _cases(DETERMINISTIC, noise_tunnel=False))
def test_matches_captum_on_its_configurations(config, name):
    ours, theirs = run_pair(config, name)
    assert_same(ours, theirs)


@pytest.mark.parametrize(("config", "name"), _cases(WITH_DELTA, noise_tunnel=False))
def test_convergence_delta_matches_captum(config, name):
    ours, theirs = run_pair(config, name, return_convergence_delta=True)
    assert_same_delta(ours, theirs)


@pytest.mark.parametrize(("config", "name"), _cases(DETERMINISTIC, noise_tunnel=True))
def test_noise_tunnel_configurations_match_captum_with_the_same_seed(config, name):
    ours, theirs = run_seeded_pair(config, name)
    assert_same(ours, theirs)


@pytest.mark.parametrize(("config", "name"), _cases(WITH_DELTA, noise_tunnel=True))
def test_noise_tunnel_delta_matches_captum_with_the_same_seed(config, name):
    ours, theirs = run_seeded_pair(config, name, return_convergence_delta=True)
    assert_same_delta(ours, theirs)


@pytest.mark.parametrize(("config", "name"), config_cases(["DeepLiftShap"]))
def test_deeplift_shap_configurations_match_captum(config, name):
    ours, theirs = run_pair(config, name, return_convergence_delta=True)
    assert_same_delta(ours, theirs)


@pytest.mark.parametrize(("config", "name"), config_cases(["GradientShap"]))
def test_gradient_shap_configurations_match_captum_with_the_same_seed(config, name):
    ours, theirs = run_seeded_pair(config, name, return_convergence_delta=True)
    assert_same_delta(ours, theirs)
