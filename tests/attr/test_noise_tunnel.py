"""NoiseTunnel: captum parity with the same seeds, zero-noise identities, generic wrapping."""

import captum.attr as captum_attr
import numpy as np
import pytest
import torch
from torch import nn

import insight_widget.attr as ours_attr
from insight_widget.attr import (
    Attribution,
    DeepLift,
    IntegratedGradients,
    NoiseTunnel,
    Saliency,
    attribution_progress,
)

from .captum_oracle import assert_same, assert_same_delta
from .real_models import scenario_params, with_baselines

NT_TYPES = ["smoothgrad", "smoothgrad_sq", "vargrad"]


def seeded(seed=0):
    torch.manual_seed(seed)
    np.random.seed(seed)


def run_both(name, model, inputs, construct=None, **kwargs):
    results = []
    for library in (ours_attr, captum_attr):
        tunnel = library.NoiseTunnel(getattr(library, name)(model, **(construct or {})))
        seeded(4)
        results.append(tunnel.attribute(inputs, **kwargs))
    return results


@pytest.mark.parametrize("scenario", scenario_params())
@pytest.mark.parametrize(("name", "nt_type", "batch"), [
    ("Saliency", "smoothgrad", None),
    ("IntegratedGradients", "vargrad", 2),
    ("DeepLift", "smoothgrad_sq", 2),
    ("GuidedBackprop", "vargrad", None),
])
def test_matches_captum_on_real_models_with_the_same_seed(scenario, name, nt_type, batch):
    kwargs = scenario.call(nt_type=nt_type, nt_samples=3, nt_samples_batch_size=batch,
                           stdevs=0.2)
    if name in ("IntegratedGradients", "DeepLift"):
        kwargs = with_baselines(scenario, **kwargs, return_convergence_delta=True)
        if name == "IntegratedGradients":
            kwargs["n_steps"] = 4
    mine, theirs = run_both(name, scenario.model, scenario.inputs, **kwargs)
    (assert_same_delta if "return_convergence_delta" in kwargs else assert_same)(mine, theirs)


@pytest.mark.parametrize("nt_samples_batch_size", [None, 1, 2, 3])
def test_gradient_shap_inside_noise_tunnel_with_drawn_baselines_matches_captum(
        nt_samples_batch_size):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.Sigmoid(), nn.Linear(6, 3))
    x = torch.randn(3, 4)
    mine, theirs = run_both(
        "GradientShap", model, x, nt_samples=5, nt_samples_batch_size=nt_samples_batch_size,
        stdevs=0.3, draw_baseline_from_distrib=True, baselines=torch.randn(6, 4), n_samples=2,
        target=torch.tensor([0, 2, 1]), return_convergence_delta=True)
    assert_same_delta(mine, theirs)


def test_drawn_baselines_for_tuple_inputs_with_a_scalar_entry_match_captum():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(2)
            self.a, self.b, self.relu = nn.Linear(3, 4), nn.Linear(2, 4), nn.ReLU()

        def forward(self, x, y):
            return self.relu(self.a(x) + self.b(y)).sum(1)

    inputs = (torch.randn(2, 3), torch.randn(2, 2))
    mine, theirs = run_both("IntegratedGradients", Two(), inputs, nt_samples=4, stdevs=(0.1, 0.5),
                            draw_baseline_from_distrib=True,
                            baselines=(torch.randn(5, 3), 0.25), n_steps=3)
    assert_same(mine, theirs)


# ---- identities ------------------------------------------------------------------------------


def _small_model():
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))


@pytest.mark.parametrize("nt_type", NT_TYPES)
@pytest.mark.parametrize("method", ["Saliency", "IntegratedGradients", "DeepLift"])
def test_zero_noise_gives_the_wrapped_method(nt_type, method):
    model = _small_model()
    algorithm = getattr(ours_attr, method)(model)
    x = torch.randn(3, 4)
    plain = algorithm.attribute(x, target=1)
    smoothed = NoiseTunnel(algorithm).attribute(x, nt_type=nt_type, nt_samples=4, stdevs=0.0,
                                                target=1)
    expected = {"smoothgrad": plain, "smoothgrad_sq": plain ** 2,
                "vargrad": torch.zeros_like(plain)}[nt_type]
    torch.testing.assert_close(smoothed, expected, rtol=1e-5, atol=1e-6)


def test_saliency_of_a_linear_model_is_smooth_for_any_noise():
    torch.manual_seed(4)
    model = nn.Linear(5, 2)
    smoothed = NoiseTunnel(Saliency(model)).attribute(torch.randn(3, 5), nt_samples=7,
                                                      stdevs=3.0, target=0)
    torch.testing.assert_close(smoothed, model.weight[0].detach().abs().expand(3, 5))


def test_seeded_runs_reproduce_and_different_seeds_differ():
    tunnel = NoiseTunnel(Saliency(_small_model()))
    x = torch.randn(2, 4)
    results = []
    for seed in (5, 5, 6):
        seeded(seed)
        results.append(tunnel.attribute(x, nt_samples=3, stdevs=0.5, target=0))
    assert torch.equal(results[0], results[1])
    assert not torch.equal(results[0], results[2])


def test_delegates_delta_support_and_multiplies_by_inputs():
    model = _small_model()
    assert NoiseTunnel(IntegratedGradients(model)).has_convergence_delta()
    assert not NoiseTunnel(Saliency(model)).has_convergence_delta()
    assert NoiseTunnel(DeepLift(model)).multiplies_by_inputs
    assert not NoiseTunnel(DeepLift(model, multiply_by_inputs=False)).multiplies_by_inputs
    assert NoiseTunnel.get_name() == "Noise Tunnel"


def test_delta_holds_every_noisy_row_batch_by_batch():
    model = _small_model()
    tunnel = NoiseTunnel(IntegratedGradients(model))
    seeded(7)
    _, delta = tunnel.attribute(torch.randn(2, 4), nt_samples=5, nt_samples_batch_size=2,
                                stdevs=0.1, target=0, n_steps=3, return_convergence_delta=True)
    assert delta.shape == (10,)


# ---- any attribution: layer-like shapes, lists, forwarded keywords ---------------------------


class HiddenActivation(Attribution):
    """A layer-style attribution: the hidden layer's activations times a scale keyword, as a
    list with one tensor per requested copy (shapes differ from the inputs)."""

    def __init__(self, model):
        super().__init__(model)
        self.calls = []

    def attribute(self, inputs, target=None, scale=1.0, copies=1):
        self.calls.append((inputs.shape[0], target, scale))
        with torch.no_grad():
            hidden = self.forward_func[1](self.forward_func[0](inputs)) * scale
        return [hidden] * copies if copies > 1 else hidden


def test_wraps_any_attribution_with_other_shapes_lists_and_forwarded_keywords():
    model = _small_model()
    method = HiddenActivation(model)
    x = torch.randn(3, 4)
    seeded(8)
    smoothed = NoiseTunnel(method).attribute(x, nt_samples=4, nt_samples_batch_size=3,
                                             stdevs=0.0, target=[0, 1, 2], scale=2.0)
    with torch.no_grad():
        expected = model[1](model[0](x)) * 2.0
    torch.testing.assert_close(smoothed, expected)
    assert [c[0] for c in method.calls] == [9, 3]
    assert method.calls[0][1].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    listed = NoiseTunnel(method).attribute(x, nt_type="smoothgrad_sq", nt_samples=2,
                                           stdevs=0.0, copies=2, scale=2.0)
    assert isinstance(listed, list) and len(listed) == 2
    torch.testing.assert_close(listed[1], expected ** 2)


def test_progress_stays_monotonic_across_wrapped_chunked_calls():
    fractions = []
    tunnel = NoiseTunnel(IntegratedGradients(_small_model()))
    with attribution_progress(fractions.append):
        tunnel.attribute(torch.randn(2, 4), nt_samples=3, nt_samples_batch_size=1, target=0,
                         n_steps=6, internal_batch_size=4)
    assert len(fractions) > 3
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_wrapped_method_with_wrong_row_count_is_reported():
    class Aggregating(Attribution):
        def attribute(self, inputs, **kwargs):
            return inputs.sum(0, keepdim=True)

    with pytest.raises(ValueError, match="one attribution row per noisy input row"):
        NoiseTunnel(Aggregating(lambda x: x)).attribute(torch.randn(2, 3), nt_samples=2)
