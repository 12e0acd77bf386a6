"""Properties of Integrated Gradients (completeness, antisymmetry, linear identities) and
Captum's golden values for the gradient family (metrics_properties_users.md, section 3.1)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from insight_widget.attr import InputXGradient, IntegratedGradients
from insight_widget.attr._utils.quadrature import step_sizes_and_alphas

SYMMETRIC_RULES = ["gausslegendre", "riemann_middle", "riemann_trapezoid"]


def _smooth_net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 4), nn.Softplus(),
                         nn.Linear(4, 1)).double()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), examples=st.integers(1, 4))
def test_integrated_gradients_is_complete_within_its_delta(seed, examples):
    model = _smooth_net(seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(examples, 3, generator=generator, dtype=torch.float64)
    baseline = torch.randn(examples, 3, generator=generator, dtype=torch.float64)
    attributions, delta = IntegratedGradients(model).attribute(
        x, baseline, n_steps=32, return_convergence_delta=True)
    with torch.no_grad():
        difference = (model(x) - model(baseline)).squeeze(1)
    torch.testing.assert_close(attributions.sum(1) - difference, delta)
    assert delta.abs().max().item() < 1e-8  # Gauss-Legendre on a smooth path


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), rule=st.sampled_from(SYMMETRIC_RULES),
       n_steps=st.integers(2, 12))
def test_integrated_gradients_flips_sign_when_input_and_baseline_swap(seed, rule, n_steps):
    model = _smooth_net(seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, generator=generator, dtype=torch.float64)
    baseline = torch.randn(2, 3, generator=generator, dtype=torch.float64)
    explainer = IntegratedGradients(model)
    forward = explainer.attribute(x, baseline, n_steps=n_steps, method=rule)
    backward = explainer.attribute(baseline, x, n_steps=n_steps, method=rule)
    torch.testing.assert_close(forward, -backward, rtol=1e-10, atol=1e-12)


def test_left_riemann_swapped_is_right_riemann_negated():
    model = _smooth_net(1)
    x = torch.randn(2, 3, dtype=torch.float64)
    baseline = torch.randn(2, 3, dtype=torch.float64)
    explainer = IntegratedGradients(model)
    left = explainer.attribute(x, baseline, n_steps=5, method="riemann_left")
    right_swapped = explainer.attribute(baseline, x, n_steps=5, method="riemann_right")
    torch.testing.assert_close(left, -right_swapped, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_left", "riemann_right",
                                  "riemann_middle", "riemann_trapezoid"])
def test_linear_model_gives_weight_times_difference_scaled_by_the_rule_weights(rule):
    torch.manual_seed(2)
    model = nn.Linear(5, 2).double()
    x = torch.randn(3, 5, dtype=torch.float64)
    baseline = torch.randn(3, 5, dtype=torch.float64)
    got = IntegratedGradients(model).attribute(x, baseline, target=1, n_steps=7, method=rule)
    # Captum's trapezoid weights sum to (n-1)/n; every other rule's to 1.
    total_weight = sum(step_sizes_and_alphas(rule, 7)[0])
    torch.testing.assert_close(got, total_weight * model.weight[1].detach() * (x - baseline))


def test_baseline_equal_to_input_gives_zero():
    model = _smooth_net(3)
    x = torch.randn(2, 3, dtype=torch.float64)
    assert IntegratedGradients(model).attribute(x, x.clone()).abs().max().item() == 0.0


class BasicModel2(nn.Module):
    """f(x1, x2) = relu(relu(x1) - 1 - relu(x2)) (Captum's golden-value model)."""

    def forward(self, x1, x2):
        return torch.relu(torch.relu(x1) - 1 - torch.relu(x2))


def test_integrated_gradients_golden_values_on_basic_model2():
    x = (torch.tensor([3.0]), torch.tensor([1.0]))
    attributions = IntegratedGradients(BasicModel2()).attribute(x, n_steps=500,
                                                                method="riemann_middle")
    assert [a.item() for a in attributions] == pytest.approx([1.5, -0.5], abs=1e-2)


def test_input_x_gradient_golden_values_on_simple_lrp_model():
    model = nn.Sequential(nn.Linear(3, 3, bias=False), nn.ReLU(), nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(2.0)
        model[2].weight.fill_(3.0)
    got = InputXGradient(model).attribute(torch.tensor([[1.0, 2.0, 3.0]]))
    torch.testing.assert_close(got, torch.tensor([[18.0, 36.0, 54.0]]))
