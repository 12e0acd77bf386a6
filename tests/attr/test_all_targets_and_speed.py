"""attribute_all_targets equals k single-target calls; SpeedOptions keep results (channels-last),
bound the autocast error, and report models that cannot run under autocast."""

import warnings

import pytest
import torch
from torch import nn

from insight_widget.attr import (
    DeepLift,
    FeatureAblation,
    InputXGradient,
    IntegratedGradients,
    Occlusion,
    Saliency,
    memory_budget,
)
from insight_widget.attr.all_targets import attribute_all_targets
from insight_widget.attr.speed import AutocastUnsupported, SpeedOptions, predict
from insight_widget.testing import ResidualConvNet, image_batch, seeded

K = 3


@pytest.fixture(scope="module")
def conv_case():
    model = seeded(ResidualConvNet).eval()
    x = image_batch(3, size=16)
    with torch.no_grad():
        top = model(x).topk(K, dim=1).indices
    return model, x, top


@pytest.mark.parametrize(("name", "make", "kwargs"), [
    ("ig", IntegratedGradients, {"n_steps": 8, "return_convergence_delta": True}),
    ("ig_auto", IntegratedGradients, {"n_steps": "auto", "step_budget": 9}),
    ("saliency", Saliency, {}),
    ("input_x_gradient", InputXGradient, {}),
    ("deeplift", DeepLift, {}),
    ("feature_ablation", FeatureAblation, {"feature_mask": torch.arange(16).reshape(
        1, 1, 4, 4).repeat_interleave(4, 2).repeat_interleave(4, 3)}),
    ("occlusion", Occlusion, {"sliding_window_shapes": (3, 8, 8), "strides": (3, 8, 8)}),
])
def test_all_targets_equal_k_single_target_calls(conv_case, name, make, kwargs):
    model, x, top = conv_case
    method = make(model)
    result = attribute_all_targets(method, x, top, **kwargs)
    with_delta = kwargs.pop("return_convergence_delta", False)
    if with_delta:
        result, delta = result
        assert delta.shape == (len(x), K)
    assert result.shape == (len(x), K, *x.shape[1:])
    for j in range(K):
        single = method.attribute(x, target=top[:, j], return_convergence_delta=with_delta,
                                  **kwargs) if with_delta else method.attribute(
            x, target=top[:, j], **kwargs)
        if with_delta:
            single, single_delta = single
            torch.testing.assert_close(delta[:, j], single_delta, rtol=1e-4, atol=1e-5)
        # Same rows, regrouped (a batched backward sums in another order): float32 rounding.
        torch.testing.assert_close(result[:, j], single, rtol=1e-5, atol=1e-6)


def test_all_targets_ig_shares_each_forward_and_chunks_as_one_target_does(conv_case):
    model, x, top = conv_case
    forwards = []
    handle = model.register_forward_hook(
        lambda *_: forwards.append(torch.is_grad_enabled()))
    ig = IntegratedGradients(model)
    try:
        # a budget the planner's input-bytes guess (32 bytes saved per input byte) cannot
        # show all 8 x 3 path rows fit in: it measures, and one chunk holds them all
        with memory_budget(60 * x[0].numel() * x.element_size() * 32):
            ig.attribute(x, target=top[:, 0], n_steps=8)
            one = sum(forwards)
            forwards.clear()
            attribute_all_targets(ig, x, top, n_steps=8)
    finally:
        handle.remove()
    # k targets keep one target's graph: the same gradient forwards, each shared by the k
    assert sum(forwards) == one


def test_all_targets_rejects_bad_targets(conv_case):
    model, x, _ = conv_case
    with pytest.raises(ValueError, match="targets"):
        attribute_all_targets(Saliency(model), x, torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="targets"):
        attribute_all_targets(Saliency(model), x, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="targets"):
        attribute_all_targets(Saliency(model), x, [1], target=0)


def test_channels_last_keeps_results_and_autocast_error_is_bounded(conv_case):
    model, x, top = conv_case
    exact = IntegratedGradients(model).attribute(x, target=top[:, 0], n_steps=8)
    fast = IntegratedGradients(SpeedOptions(model, channels_last=True)).attribute(
        x, target=top[:, 0], n_steps=8)
    torch.testing.assert_close(fast, exact, rtol=1e-4, atol=1e-5)  # other kernel order only
    mixed = IntegratedGradients(SpeedOptions(model, autocast=True)).attribute(
        x, target=top[:, 0], n_steps=8)
    assert mixed.dtype == torch.float32
    error = (mixed - exact).flatten(1).norm(dim=1) / exact.flatten(1).norm(dim=1)
    # bfloat16 keeps 8 mantissa bits (2**-8 ~ 0.4% per rounding); a few layers of roundings
    # stay well under 25% of the map, while a broken cast would not.
    assert (error < 0.25).all() and (error > 0).all()


def test_autocast_failure_is_named_and_falls_back_only_when_asked():
    class Float32Only(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 2)

        def forward(self, x):
            hidden = self.linear(x)
            if hidden.dtype != torch.float32:
                raise RuntimeError("this model needs float32 activations")
            return hidden

    x = torch.randn(2, 3)
    with pytest.raises(AutocastUnsupported, match=r"Float32Only.*fallback=True"):
        SpeedOptions(Float32Only(), autocast=True)(x)
    model = Float32Only()
    wrapped = SpeedOptions(model, autocast=True, fallback=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.testing.assert_close(wrapped(x), model(x))
    assert wrapped.fell_back and "full precision" in str(caught[0].message)
    with pytest.raises(ValueError, match="autocast_dtype"):
        SpeedOptions(model, autocast=True, autocast_dtype=torch.float64)


def test_predict_runs_without_autograd():
    model = nn.Linear(3, 2)
    output = predict(model, torch.randn(4, 3))
    assert output.shape == (4, 2) and not output.requires_grad and output.is_inference()
