"""Gradient family on real architectures, compared with captum 0.9.0 (rtol 1e-5, atol 1e-6)."""

import captum.attr as captum_attr
import pytest

import insight_widget.attr as ours_attr

from .captum_oracle import assert_same, assert_same_delta
from .real_models import scenario_params, with_baselines

QUADRATURES = ["gausslegendre", "riemann_left", "riemann_right", "riemann_middle",
               "riemann_trapezoid"]


def both(name, model, **construct):
    return getattr(ours_attr, name)(model, **construct), getattr(captum_attr, name)(model,
                                                                                      **construct)


@pytest.mark.parametrize("scenario", scenario_params())
@pytest.mark.parametrize("name", ["Saliency", "InputXGradient"])
def test_plain_gradient_methods_match_captum(scenario, name):
    ours, theirs = both(name, scenario.model)
    assert_same(ours.attribute(scenario.inputs, **scenario.call()),
                theirs.attribute(scenario.inputs, **scenario.call()))


@pytest.mark.parametrize("scenario", scenario_params())
def test_signed_saliency_matches_captum(scenario):
    ours, theirs = both("Saliency", scenario.model)
    assert_same(ours.attribute(scenario.inputs, **scenario.call(abs=False)),
                theirs.attribute(scenario.inputs, **scenario.call(abs=False)))


@pytest.mark.parametrize("scenario", scenario_params())
@pytest.mark.parametrize("method", QUADRATURES)
def test_integrated_gradients_matches_captum_for_every_quadrature(scenario, method):
    ours, theirs = both("IntegratedGradients", scenario.model)
    kwargs = with_baselines(scenario, n_steps=8, method=method, return_convergence_delta=True)
    assert_same_delta(ours.attribute(scenario.inputs, **kwargs),
                      theirs.attribute(scenario.inputs, **kwargs))


@pytest.mark.parametrize("scenario", scenario_params())
@pytest.mark.parametrize("internal_batch_size", [1, 5, 16])
def test_integrated_gradients_chunked_matches_captum(scenario, internal_batch_size):
    ours, theirs = both("IntegratedGradients", scenario.model, multiply_by_inputs=False)
    kwargs = with_baselines(scenario, n_steps=7, internal_batch_size=internal_batch_size)
    assert_same(ours.attribute(scenario.inputs, **kwargs),
                theirs.attribute(scenario.inputs, **kwargs))
