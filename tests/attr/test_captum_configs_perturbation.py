"""Captum's argument configurations (captum.testing), perturbation family, vs captum 0.9.0.

Deterministic methods: rtol 1e-5, atol 1e-6. Sampled methods run with the same seed on both
sides and must give the same numbers: FeaturePermutation and ShapleyValueSampling to rtol
1e-5 / atol 1e-6. Lime and KernelShap fit a surrogate, which amplifies the last-bit
differences of its data (our batched model outputs; Captum's float32 least squares for
KernelShap, where we solve in float64) by the problem's conditioning, differently on every
CPU and BLAS: their tolerance is a perturbation bound computed from the recorded fits
(``surrogate_tolerance``), not a constant tuned on one machine.
"""

import captum.attr as captum_attr
import pytest

import insight_widget.attr as ours_attr

from .captum_oracle import assert_same, build, config_cases, run_algorithm, run_pair
from .surrogate_tolerance import (
    FLOAT32_SOLVER,
    SKLEARN_LASSO_TOL,
    fit_tolerance,
    recorded_fits,
)
from .test_perturbation_real_models import one_thread  # noqa: F401  (module fixture)

# Captum's conv config with Shapley sampling runs 25 x 100 one-row forwards on Captum's side;
# fewer orders keep the comparison (order draws included) and the suite fast.
OVERRIDES = {("conv_with_perturbations_per_eval", "ShapleyValueSampling"): {"n_samples": 3}}


def _cases(names):
    return [c for c in config_cases(names) if not c.values[0].get("noise_tunnel")]


@pytest.mark.parametrize(("config", "name"), _cases(["FeatureAblation", "Occlusion"]))
def test_deterministic_methods_match_captum_on_its_configurations(config, name):
    ours, theirs = run_pair(config, name)
    assert_same(ours, theirs)


@pytest.mark.parametrize(
    ("config", "name"), _cases(["FeaturePermutation", "ShapleyValueSampling"]))
def test_sampled_methods_match_captum_with_the_same_seed(config, name):
    ours, theirs = run_pair(config, name, seed=1234,
                            **OVERRIDES.get((config["name"], name), {}))
    assert_same(ours, theirs)


@pytest.mark.parametrize(("config", "name"), _cases(["Lime", "KernelShap"]))
def test_surrogate_methods_match_captum_with_the_same_seed(config, name):
    ours_algorithm = build(ours_attr, config, name)
    theirs_algorithm = build(captum_attr, config, name)
    with recorded_fits(ours_algorithm, theirs_algorithm) as (our_fits, their_fits):
        ours = run_algorithm(ours_algorithm, config, seed=1234)
        theirs = run_algorithm(theirs_algorithm, config, seed=1234)
    # Lime: scikit-learn's Lasso (float32 coordinate descent) on both sides; KernelShap:
    # Captum's float32 least squares against our float64 one.
    stopping = SKLEARN_LASSO_TOL if name == "Lime" else 0.0
    atol = fit_tolerance(our_fits, their_fits, FLOAT32_SOLVER, stopping)
    assert_same(ours, theirs, rtol=1e-5, atol=atol)


@pytest.mark.parametrize(("config", "name"),
                         [c for c in config_cases(["FeatureAblation"])
                          if c.values[0].get("noise_tunnel")])
def test_noise_tunnel_over_feature_ablation_matches_captum(config, name):
    ours, theirs = run_pair(config, name)
    assert_same(ours, theirs)
