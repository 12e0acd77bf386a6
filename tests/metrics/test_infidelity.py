"""infidelity: parity with captum 0.9.0 on the same seed, properties, batching, bad input."""

import warnings

import captum.metrics as captum_metrics
import pytest
import torch
from torch import nn

import insight_widget.metrics as ours
from insight_widget.attr import AttributionCancelled, InputXGradient, Saliency, attribution_progress

from ..attr.captum_oracle import assert_same
from ..attr.real_models import scenario_params


def gaussian_perturbation(inputs):
    """Returns (perturbations, perturbed inputs) for one tensor or a tuple of tensors."""
    single = isinstance(inputs, torch.Tensor)
    tensors = (inputs,) if single else inputs
    noise = tuple(0.1 * torch.randn_like(t) for t in tensors)
    perturbed = tuple(t - n for t, n in zip(tensors, noise))
    return (noise[0], perturbed[0]) if single else (noise, perturbed)


def both(seed=0, **kwargs):
    """(ours, captum's) infidelity of the same call, each after seeding the RNG with ``seed``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(seed)
        mine = ours.infidelity(**kwargs)
        torch.manual_seed(seed)
        theirs = captum_metrics.infidelity(**kwargs)
    return mine, theirs


def attributions_for(scenario):
    return Saliency(scenario.model).attribute(scenario.inputs, **scenario.call(abs=False))


@pytest.mark.parametrize("scenario", scenario_params(size=8))
def test_infidelity_matches_captum_on_real_models(scenario):
    mine, theirs = both(
        forward_func=scenario.model, perturb_func=gaussian_perturbation,
        inputs=scenario.inputs, attributions=attributions_for(scenario),
        target=scenario.target, additional_forward_args=scenario.additional_forward_args,
        n_perturb_samples=4, normalize=True)
    assert mine.shape == (scenario.inputs[0].shape[0] if isinstance(scenario.inputs, tuple)
                          else scenario.inputs.shape[0],)
    assert_same(mine, theirs)


@pytest.mark.parametrize("max_examples_per_batch", [None, 2, 3, 7, 9, 100])
def test_infidelity_matches_captum_for_every_chunking(max_examples_per_batch):
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).eval()
    x = torch.randn(3, 4)
    attributions = torch.randn(3, 4)
    mine, theirs = both(forward_func=model, perturb_func=gaussian_perturbation, inputs=x,
                        attributions=attributions, target=[0, 2, 1], n_perturb_samples=5,
                        max_examples_per_batch=max_examples_per_batch, normalize=True)
    assert_same(mine, theirs)


@pytest.mark.parametrize("multiply_by_inputs", [True, False])
@pytest.mark.parametrize("baselines", [None, 0.5, "per-example", "one-example"])
def test_decorated_perturbation_with_baselines_matches_captum(multiply_by_inputs, baselines):
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2)).eval()
    x = torch.randn(4, 5)
    if baselines == "per-example":
        baselines = torch.randn(4, 5)
    elif baselines == "one-example":
        baselines = torch.randn(1, 5)

    def perturb(inputs, baselines=None):
        mask = (torch.rand_like(inputs) > 0.5).to(inputs.dtype)
        reference = 0.0 if baselines is None else baselines
        return inputs * mask + reference * (1 - mask)

    mine, theirs = both(
        forward_func=model,
        perturb_func=ours.infidelity_perturb_func_decorator(multiply_by_inputs)(perturb),
        inputs=x, attributions=torch.randn(4, 5), baselines=baselines, target=1,
        n_perturb_samples=6, max_examples_per_batch=8)
    assert_same(mine, theirs)


def test_decorator_matches_captum_decorator_including_zero_spans():
    x = torch.tensor([[0.0, 1.0, 2.0], [3.0, 0.5, -1.0]])

    def perturb(inputs, baselines=None):
        return inputs * 3 + 2

    baselines = torch.tensor([[0.0, 0.5, 1.0]])
    for flag in (True, False):
        mine = ours.infidelity_perturb_func_decorator(flag)(perturb)(x, baselines)
        theirs = captum_metrics.infidelity_perturb_func_decorator(flag)(perturb)(x, baselines)
        assert_same(mine, theirs)


def test_tuple_inputs_double_precision_match_captum():
    class Two(nn.Module):
        def forward(self, a, b, scale):
            return (a ** 2).sum(1, keepdim=True) * scale + torch.sin(b).sum(1, keepdim=True)

    a, b = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    mine, theirs = both(forward_func=Two().eval(), perturb_func=gaussian_perturbation,
                        inputs=(a, b), attributions=(torch.randn_like(a), torch.randn_like(b)),
                        additional_forward_args=(torch.arange(3.0).unsqueeze(1).double(),),
                        n_perturb_samples=3)
    assert mine.dtype == torch.float64
    assert_same(mine, theirs)


def test_infidelity_is_zero_for_linear_model_and_its_weights():
    torch.manual_seed(1)
    linear = nn.Linear(6, 1)
    x = torch.randn(5, 6)
    local = Saliency(linear).attribute(x, abs=False)  # = w for every example
    assert torch.allclose(local, linear.weight.detach().expand(5, 6))

    @ours.infidelity_perturb_func_decorator(multiply_by_inputs=False)
    def perturb(inputs):
        return inputs + torch.randn_like(inputs)

    for normalize in (False, True):
        score = ours.infidelity(linear, perturb, x, local, n_perturb_samples=8,
                                normalize=normalize)
        assert torch.allclose(score, torch.zeros(5), atol=1e-10)


def test_global_attribution_infidelity_is_zero_for_linear_model():
    linear = nn.Linear(6, 1, bias=False)
    x = torch.randn(5, 6) + 3.0
    global_attributions = InputXGradient(linear).attribute(x)  # w * x

    @ours.infidelity_perturb_func_decorator(multiply_by_inputs=True)
    def perturb(inputs, baselines=None):
        keep = (torch.rand_like(inputs) > 0.3).to(inputs.dtype)
        return inputs * keep

    score = ours.infidelity(linear, perturb, x, global_attributions, baselines=0.0,
                            n_perturb_samples=8)
    assert torch.allclose(score, torch.zeros(5), atol=1e-9)
    noisy = ours.infidelity(linear, perturb, x, global_attributions.flip(1), baselines=0.0)
    assert bool((noisy > 1e-3).all())


def test_max_examples_per_batch_bounds_rows_and_forwards_run_without_grad():
    rows, grad_modes = [], []

    class Recorder(nn.Module):
        def forward(self, x):
            rows.append(x.shape[0])
            grad_modes.append(torch.is_grad_enabled())
            return x.sum(1)

    x = torch.randn(4, 3, requires_grad=True)
    ours.infidelity(Recorder(), gaussian_perturbation, x, torch.ones(4, 3),
                    n_perturb_samples=10, max_examples_per_batch=9)
    # the unperturbed rows once, then chunks of 9 // 4 = 2 samples = 8 rows
    assert rows == [4, 8, 8, 8, 8, 8]
    rows.clear()
    ours.infidelity(Recorder(), gaussian_perturbation, x, torch.ones(4, 3),
                    n_perturb_samples=10, max_examples_per_batch=12)
    assert rows == [4, 12, 12, 12, 4]  # chunks of 3 samples, the last one of 1
    rows.clear()
    ours.infidelity(Recorder(), gaussian_perturbation, x, torch.ones(4, 3), n_perturb_samples=10)
    assert rows == [4, 40]  # Captum's passes, without its repeated unperturbed one per chunk
    assert not any(grad_modes)


def test_progress_reports_chunks_and_can_cancel():
    fractions = []
    model = nn.Linear(3, 1)
    with attribution_progress(lambda f: fractions.append(f)):
        ours.infidelity(model, gaussian_perturbation, torch.randn(2, 3), torch.ones(2, 3),
                        n_perturb_samples=4, max_examples_per_batch=2)
    assert fractions == [0.25, 0.5, 0.75, 1.0]
    with pytest.raises(AttributionCancelled), attribution_progress(lambda f: False):
        ours.infidelity(model, gaussian_perturbation, torch.randn(2, 3), torch.ones(2, 3),
                        n_perturb_samples=4, max_examples_per_batch=2)


def test_attributions_with_wrong_shape_are_rejected_naming_the_argument():
    with pytest.raises(ValueError, match=r"`attributions` must have the shapes of `inputs`"):
        ours.infidelity(nn.Linear(4, 1), gaussian_perturbation, torch.randn(2, 4),
                        torch.randn(2, 3))


def test_perturb_func_returning_only_inputs_is_explained():
    with pytest.raises(TypeError, match="infidelity_perturb_func_decorator"):
        ours.infidelity(nn.Linear(4, 1), lambda x: x + 1, torch.randn(2, 4), torch.randn(2, 4))


def test_invalid_counts_and_flags_are_rejected():
    args = (nn.Linear(4, 1), gaussian_perturbation, torch.randn(2, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match="n_perturb_samples"):
        ours.infidelity(*args, n_perturb_samples=0)
    with pytest.raises(ValueError, match="max_examples_per_batch"):
        ours.infidelity(*args, max_examples_per_batch=0)
    with pytest.raises(TypeError, match="normalize"):
        ours.infidelity(*args, normalize="yes")


def test_model_with_several_outputs_per_example_needs_a_target():
    with pytest.raises(ValueError, match="one value per example"):
        ours.infidelity(nn.Linear(4, 3), gaussian_perturbation, torch.randn(2, 4),
                        torch.randn(2, 4))


def test_signatures_match_captum():
    import inspect

    from captum.metrics._core.sensitivity import default_perturb_func

    def parameters(function):
        return [(p.name, p.kind, p.default if not callable(p.default) else p.default.__name__)
                for p in inspect.signature(function).parameters.values()]

    for name in ("infidelity", "infidelity_perturb_func_decorator", "sensitivity_max"):
        assert parameters(getattr(ours, name)) == parameters(getattr(captum_metrics, name))
    assert parameters(ours.default_perturb_func) == parameters(default_perturb_func)
    assert set(captum_metrics.__all__) <= set(ours.__all__)


@pytest.mark.parametrize(("perturb", "message"), [
    (lambda x: (torch.ones_like(x), x[:, :2]),
     r"perturbed inputs.*\[\(6, 4\)\]; got \[\(6, 2\)\]"),
    (lambda x: (torch.ones_like(x), x[:1]), r"perturbed inputs.*\[\(6, 4\)\]; got \[\(1, 4\)\]"),
    (lambda x: (torch.ones(x.shape[0], 3), x), r"shape \(6, 4\); got shape \(6, 3\)"),
    (lambda x: (torch.ones(2 * x.shape[0], 4), x), r"shape \(6, 4\); got shape \(12, 4\)"),
])
def test_perturb_func_returning_wrong_shapes_raises_naming_expected_and_received(perturb,
                                                                                   message):
    model = torch.nn.Linear(4, 2)
    inputs, attributions = torch.randn(3, 4), torch.randn(3, 4)
    with pytest.raises(ValueError, match=message):
        ours.infidelity(model, perturb, inputs, attributions, target=0, n_perturb_samples=2)
