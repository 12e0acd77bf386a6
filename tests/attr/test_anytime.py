"""Anytime Integrated Gradients (n_steps="auto"): the stopping rule holds on trained models, the
quadrature is exact where Simpson's rule is, intermediate results stream and can be abandoned,
integer n_steps keep Captum's numbers, and bad arguments are named."""

import captum.attr as captum_attr
import pytest
import torch
from torch import nn

from insight_widget.attr import (
    AttributionCancelled,
    IntegratedGradients,
    LayerIntegratedGradients,
    NeuronIntegratedGradients,
    NoiseTunnel,
    attribution_progress,
    memory_budget,
)
from insight_widget.examples import shapes, tabular
from insight_widget.testing import EmbeddingTextClassifier, seeded, token_batch

EPS32 = torch.finfo(torch.float32).eps


def rounding_slack(attributions, f_in, f_base):
    """float32 rounding of the delta: sum over the attribution terms and the two outputs."""
    terms = attributions.flatten(1).abs().sum(1) + f_in.abs() + f_base.abs()
    return 64 * EPS32 * terms


def targeted(model, x, target):
    with torch.no_grad():
        return model(x).gather(1, target[:, None])[:, 0]


def trained_cases():
    images, _ = shapes.make_dataset(4, seed=11)
    table, _ = tabular.make_dataset(6, seed=11)
    return [(shapes.load_model(), shapes.normalize(images)), (tabular.load_model(), table)]


@pytest.mark.parametrize("case", range(2), ids=["shapes_cnn", "tabular_mlp"])
def test_auto_mode_meets_the_tolerance_on_trained_demo_models(case):
    model, x = trained_cases()[case]
    with torch.no_grad():
        target = model(x).argmax(1)
    tolerance = 0.01
    ig = IntegratedGradients(model)
    attributions, delta = ig.attribute(x, target=target, n_steps="auto",
                                       delta_tolerance=tolerance, return_convergence_delta=True)
    f_in, f_base = targeted(model, x, target), targeted(model, torch.zeros_like(x), target)
    bound = tolerance * (f_in - f_base).abs() + rounding_slack(attributions, f_in, f_base)
    assert (delta.abs() <= bound).all(), (delta, f_in - f_base)
    # The returned delta is the completeness error of the returned attributions.
    recomputed = ig.compute_convergence_delta(attributions, 0, x, target=target)
    assert torch.allclose(delta, recomputed, rtol=0,
                          atol=float(rounding_slack(attributions, f_in, f_base).max()))


def test_simpson_panels_integrate_a_cubic_path_exactly_after_the_first_round():
    # F(x) = sum x^3: along alpha x the directional derivative is 3 alpha^2 sum x^3, a
    # quadratic Simpson's rule integrates exactly; IG_i = x_i^3 (zero baseline).
    class Cubic(nn.Module):
        def forward(self, x):
            return (x ** 3).sum(1, keepdim=True)

    x = torch.randn(3, 5, dtype=torch.float64)
    results = list(IntegratedGradients(Cubic()).attribute_progressive(x, target=0))
    assert len(results) == 1
    # one Simpson panel (3 nodes) is exact for a quadratic: the first round is the last
    assert results[0].steps.tolist() == [3, 3, 3]
    assert results[0].converged.all() and results[0].final
    torch.testing.assert_close(results[0].attributions, x ** 3, rtol=1e-12, atol=1e-12)


def test_progressive_results_refine_until_converged_and_end_where_attribute_ends():
    model, x = trained_cases()[0]
    x = x[:2]
    with torch.no_grad():
        target = model(x).argmax(1)
    ig = IntegratedGradients(model)
    results = list(ig.attribute_progressive(x, target=target, delta_tolerance=0.005))
    steps = torch.stack([r.steps for r in results])
    assert (steps[1:] >= steps[:-1]).all()
    # only the last round says no round follows (a streaming caller shows the others at once)
    assert [r.final for r in results] == [False] * (len(results) - 1) + [True]
    for earlier, later in zip(results, results[1:]):
        # A converged example is no longer refined.
        assert (later.steps[earlier.converged] == earlier.steps[earlier.converged]).all()
    final = ig.attribute(x, target=target, n_steps="auto", delta_tolerance=0.005)
    torch.testing.assert_close(results[-1].attributions, final)


def test_step_budget_caps_the_nodes_and_leaves_unmet_examples_marked_unconverged():
    model, x = trained_cases()[1]
    with torch.no_grad():
        target = model(x).argmax(1)
    results = list(IntegratedGradients(model).attribute_progressive(
        x, target=target, delta_tolerance=1e-6, step_budget=9))
    assert (results[-1].steps <= 9).all()
    assert not results[-1].converged.all()
    budget_two = list(IntegratedGradients(model).attribute_progressive(
        x, target=target, step_budget=2))
    assert budget_two[-1].steps.tolist() == [2] * len(x)


def test_abandoning_the_iteration_keeps_the_last_map_and_cancel_raises():
    model, x = trained_cases()[0]
    with torch.no_grad():
        target = model(x).argmax(1)
    stream = IntegratedGradients(model).attribute_progressive(x, target=target,
                                                              delta_tolerance=1e-5)
    first = next(stream)
    stream.close()
    assert first.attributions.shape == x.shape and not first.converged.all()
    layer_ig = LayerIntegratedGradients(model, model.conv2)
    with attribution_progress(lambda fraction: False), pytest.raises(AttributionCancelled):
        layer_ig.attribute(x, target=target, n_steps="auto")
    assert not model.conv2._forward_hooks  # hooks removed after the cancel


def test_layer_neuron_and_noise_tunnel_auto_modes_meet_the_tolerance():
    model = seeded(EmbeddingTextClassifier).eval()
    tokens, _ = token_batch(3)
    layer_ig = LayerIntegratedGradients(model, model.embedding)
    _, delta = layer_ig.attribute(tokens, target=1, n_steps="auto",
                                  return_convergence_delta=True)
    with torch.no_grad():
        scale = (model(tokens)[:, 1] - model(torch.zeros_like(tokens))[:, 1]).abs()
    assert (delta.abs() <= 0.01 * scale + 1e-5).all()

    cnn, x = trained_cases()[0]
    x = x[:2]
    neuron_ig = NeuronIntegratedGradients(cnn, cnn.relu1)
    auto = neuron_ig.attribute(x, (3, 10, 10), n_steps="auto", delta_tolerance=1e-3)
    dense = neuron_ig.attribute(x, (3, 10, 10), n_steps=256, method="riemann_middle")
    # Both approximate the same integral; the neuron's completeness error bounds the sums.
    scale = dense.flatten(1).sum(1).abs().max()
    torch.testing.assert_close(auto.flatten(1).sum(1), dense.flatten(1).sum(1), rtol=0,
                               atol=float(2e-3 * scale + 1e-5))

    tunnel = NoiseTunnel(IntegratedGradients(cnn))
    smoothed, deltas = tunnel.attribute(x[:1], nt_samples=2, stdevs=0.1, target=0,
                                        n_steps="auto", return_convergence_delta=True)
    assert smoothed.shape == x[:1].shape and deltas.shape == (2,)


def test_integer_n_steps_keep_captums_numbers():
    model, x = trained_cases()[0]
    ours, ours_delta = IntegratedGradients(model).attribute(
        x, target=1, n_steps=20, return_convergence_delta=True)
    theirs, their_delta = captum_attr.IntegratedGradients(model).attribute(
        x, target=1, n_steps=20, return_convergence_delta=True)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours_delta, their_delta, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"delta_tolerance": 0}, "delta_tolerance"),
    ({"delta_tolerance": -0.5}, "delta_tolerance"),
    ({"delta_tolerance": "1%"}, "delta_tolerance"),
    ({"delta_tolerance": float("nan")}, "delta_tolerance"),
    ({"delta_tolerance": True}, "delta_tolerance"),
    ({"step_budget": 1}, "step_budget"),
    ({"n_steps": "fast"}, "n_steps"),
])
def test_bad_anytime_arguments_raise_value_errors_naming_them(kwargs, argument):
    model = nn.Linear(4, 2)
    x = torch.randn(2, 4)
    call = {"n_steps": "auto", **kwargs}
    for method, extra in ((IntegratedGradients(model), {"target": 0}),
                          (LayerIntegratedGradients(model, model), {"target": 0})):
        with pytest.raises(ValueError, match=argument):
            method.attribute(x, **extra, **call)
    with pytest.raises(ValueError, match=argument):
        NeuronIntegratedGradients(model, model).attribute(x, (0,), **call)


class Expanding(nn.Module):
    """Saves 64x its input bytes for backward (tanh keeps its output), twice the 32x the
    chunk planner guesses before it has measured: a model whose activation size is known."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.register_buffer("readout", torch.randn(64 * width, 2))
        self.rows_per_call = []

    def forward(self, x):
        self.rows_per_call.append(x.shape[0])
        return torch.tanh(x.repeat(1, 64)) @ self.readout


def test_anytime_rounds_keep_saved_activations_under_the_memory_budget():
    width = 256
    model = Expanding(width)
    x = torch.randn(2, width)
    saved_per_row = 64 * width * 4  # tanh's float32 output: 64 KiB per path row
    budget = 150 << 10  # two rows fit, three do not
    with memory_budget(budget):
        final = IntegratedGradients(model).attribute(
            x, target=0, n_steps="auto", delta_tolerance=1e-4, step_budget=17,
            return_convergence_delta=True)
    assert sum(model.rows_per_call) > 6  # refined past the first round (2 examples x 3 nodes)
    assert max(model.rows_per_call) * saved_per_row <= budget, model.rows_per_call
    # the budget's chunks change no value: the same call, one chunk per round
    model.rows_per_call.clear()
    unchunked = IntegratedGradients(model).attribute(
        x, target=0, n_steps="auto", delta_tolerance=1e-4, step_budget=17,
        return_convergence_delta=True)
    assert max(model.rows_per_call) > 2
    torch.testing.assert_close(final, unchunked, rtol=1e-5, atol=1e-6)


def test_a_degenerate_gradient_at_the_zero_baseline_costs_no_refinement():
    # Bias-free ReLU network: F(alpha x) = alpha F(x), so h = dF/dalpha is constant on (0, 1]
    # and IG = x * grad F(x); at alpha = 0 exactly every pre-activation is 0, where ReLU' = 0,
    # so h(0) = 0 is a single-point jump no quadrature should sample.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16, bias=False), nn.ReLU(), nn.Linear(16, 3, bias=False))
    x = torch.randn(4, 6, dtype=torch.float64)
    model = model.double()
    result = list(IntegratedGradients(model).attribute_progressive(x, target=1))[-1]
    assert result.steps.tolist() == [3] * 4 and result.converged.all()
    z = x.clone().requires_grad_()
    (gradient,) = torch.autograd.grad(model(z)[:, 1].sum(), z)
    torch.testing.assert_close(result.attributions, x * gradient, rtol=1e-6, atol=1e-9)
