"""Deletion / insertion curves (RISE) and monotonicity: properties, batching, bad input."""

import pytest
import torch
from torch import nn

import insight_widget.metrics as metrics
from insight_widget.attr import Saliency
from insight_widget.metrics._substrates import gaussian_blur


class RowRecorder(nn.Module):
    """Wraps a model and records the inputs of every forward call."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.calls = []

    def forward(self, x):
        self.calls.append((x.detach().clone(), torch.is_grad_enabled()))
        return self.model(x)


def linear_model(features=12, seed=0):
    torch.manual_seed(seed)
    return nn.Linear(features, 1).eval()


def small_conv():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(16, 5)).eval()


def test_deletion_auc_of_perfect_attribution_beats_random_ones():
    model = linear_model()
    x = torch.rand(6, 12) + 0.5
    perfect = model.weight.detach() * x  # each feature's exact contribution f(x) - f(x_i<-0)
    best = metrics.deletion(model, x, perfect, step=1).auc
    generator = torch.Generator().manual_seed(1)
    randoms = torch.stack([metrics.deletion(model, x, torch.randn(6, 12, generator=generator),
                                            step=1).auc for _ in range(20)])
    # Removing the largest contributions first minimises the score at every step.
    assert bool((best <= randoms + 1e-6).all())
    assert bool((best < randoms.mean(0)).all())


def test_deletion_curve_runs_from_input_to_substrate_with_trapezoid_auc():
    model = linear_model()
    x = torch.randn(3, 12)
    result = metrics.deletion(model, x, torch.randn(3, 12), step=5, substrate=0.5)
    assert result.curve.shape == (3, 4) and result.fractions.tolist() == pytest.approx(
        [0, 1 / 3, 2 / 3, 1])
    with torch.no_grad():
        assert torch.allclose(result.curve[:, 0], model(x).squeeze(1))
        assert torch.allclose(result.curve[:, -1], model(torch.full_like(x, 0.5)).squeeze(1))
    curve = result.curve
    expected = (curve.sum(1) - curve[:, 0] / 2 - curve[:, -1] / 2) / 3
    assert torch.allclose(result.auc, expected)
    assert torch.allclose(result.auc, torch.trapezoid(curve, result.fractions, dim=1))


def test_insertion_curve_starts_blurred_and_ends_at_the_input():
    model = small_conv()
    x = torch.rand(2, 3, 12, 12)
    attributions = Saliency(model).attribute(x, target=1)
    result = metrics.insertion(model, x, attributions, target=1, step=16, softmax=False)
    with torch.no_grad():
        assert torch.allclose(result.curve[:, -1], model(x)[:, 1], atol=1e-6)
        assert torch.allclose(result.curve[:, 0], model(gaussian_blur(x))[:, 1], atol=1e-6)
    assert result.curve.shape == (2, 144 // 16 + 1)


def test_gaussian_blur_is_normalised_and_smooths():
    constant = torch.full((1, 2, 9, 9), 3.0)
    assert torch.allclose(gaussian_blur(constant), constant)
    noisy = torch.randn(1, 1, 20, 20)
    assert gaussian_blur(noisy).std() < noisy.std() / 2


def test_pixels_move_with_all_their_channels_and_every_pass_is_gradient_free():
    recorder = RowRecorder(small_conv())
    x = torch.rand(2, 3, 6, 6) + 0.1
    attributions = torch.randn(2, 3, 6, 6)
    result = metrics.deletion(recorder, x, attributions, step=4, max_examples_per_batch=6)
    n_steps = 36 // 4
    assert result.curve.shape == (2, n_steps + 1)
    rows = [batch.shape[0] for batch, _ in recorder.calls]
    # one unperturbed pass, then n_steps x N rows in passes of at most 6 rows
    assert rows[0] == 2 and sum(rows[1:]) == 2 * n_steps and max(rows[1:]) <= 6
    assert not any(grad for _, grad in recorder.calls)
    for batch, _ in recorder.calls[1:]:
        removed = batch == 0
        assert torch.equal(removed.all(1), removed.any(1))  # whole pixels only
    pixel_scores = attributions.sum(1).reshape(2, -1)
    first_batch = recorder.calls[1][0]  # variant 1 (4 pixels removed) of both examples
    for example in range(2):
        removed = (first_batch[example] == 0).all(0).reshape(-1)
        assert set(removed.nonzero().flatten().tolist()) == set(
            pixel_scores[example].topk(4).indices.tolist())


def test_chunking_does_not_change_the_curve():
    model = small_conv()
    x = torch.rand(3, 3, 8, 8)
    attributions = torch.randn(3, 3, 8, 8)
    whole = metrics.deletion(model, x, attributions, step=8)
    for size in (3, 5, 16):
        chunked = metrics.deletion(model, x, attributions, step=8, max_examples_per_batch=size)
        assert torch.allclose(whole.curve, chunked.curve, atol=1e-6)


def test_default_target_is_the_predicted_class_scored_by_softmax():
    model = small_conv()
    x = torch.rand(3, 3, 8, 8)
    attributions = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        predicted = model(x).argmax(1)
        probabilities = model(x).softmax(1)
    automatic = metrics.deletion(model, x, attributions, step=16)
    explicit = metrics.deletion(model, x, attributions, step=16, target=predicted, softmax=True)
    assert torch.allclose(automatic.curve, explicit.curve)
    assert torch.allclose(automatic.curve[:, 0], probabilities.max(1).values)


def test_feature_mask_groups_elements_and_default_step_gives_about_fifty_steps():
    model = linear_model(features=6)
    x = torch.rand(2, 6) + 1
    mask = torch.tensor([[0, 0, 1, 1, 2, 2]])
    grouped = metrics.deletion(model, x, torch.randn(2, 6), feature_mask=mask, step=1)
    assert grouped.curve.shape == (2, 4)
    many = metrics.deletion(nn.Linear(200, 1), torch.randn(1, 200), torch.randn(1, 200))
    assert many.curve.shape == (1, 51)  # step = ceil(200 / 50) = 4


def test_tuple_inputs_share_one_ranking():
    class Two(nn.Module):
        def forward(self, a, b):
            return a.sum(1) + 2 * b.sum(1)

    a, b = torch.ones(1, 2), torch.ones(1, 3)
    attributions = (torch.tensor([[1.0, 5.0]]), torch.tensor([[4.0, 3.0, 2.0]]))
    result = metrics.deletion(Two(), (a, b), attributions, step=1)
    # removal order: a1 (5), b0 (4), b1 (3), b2 (2), a0 (1)
    assert result.curve[0].tolist() == pytest.approx([8, 7, 5, 3, 1, 0])


def test_monotonicity_detects_increasing_and_decreasing_evidence():
    model = linear_model()
    x = torch.rand(4, 12) + 0.5
    with torch.no_grad():
        model.weight.abs_()
    contributions = model.weight.detach() * x  # all positive
    good = metrics.monotonicity(model, x, contributions, step=1)
    assert bool(good.monotonic.all()) and torch.allclose(good.nondecreasing_fraction,
                                                         torch.ones(4))
    assert torch.allclose(good.curve[:, -1], model(x).detach().squeeze(1))
    with torch.no_grad():
        model.weight[0, :6].neg_()
    mixed = metrics.monotonicity(model, x, model.weight.detach() * x, step=1)
    assert not bool(mixed.monotonic.any())
    assert bool((mixed.nondecreasing_fraction == 0.5).all())


def test_bad_arguments_are_rejected_naming_them():
    model = linear_model()
    x = torch.randn(2, 12)
    with pytest.raises(ValueError, match="`attributions` must have the shapes of `inputs`"):
        metrics.deletion(model, x, torch.randn(2, 11))
    with pytest.raises(ValueError, match="`substrate` must be 'zeros', 'blur'"):
        metrics.deletion(model, x, torch.randn(2, 12), substrate="noise")
    with pytest.raises(ValueError, match="'blur' substrate needs images"):
        metrics.insertion(model, x, torch.randn(2, 12))
    with pytest.raises(ValueError, match="`step` must be an int >= 1"):
        metrics.deletion(model, x, torch.randn(2, 12), step=0)
    with pytest.raises(ValueError, match="`feature_mask` must be broadcastable"):
        metrics.deletion(model, x, torch.randn(2, 12), feature_mask=torch.zeros(1, 5,
                                                                                dtype=torch.long))
    with pytest.raises(ValueError, match="`softmax=True` needs a model output"):
        metrics.deletion(lambda t: t.sum(1), x, torch.randn(2, 12), softmax=True)
