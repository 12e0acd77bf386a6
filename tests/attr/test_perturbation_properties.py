"""Properties of the perturbation family: golden values, Shapley axioms, linear models,
batching invariance, one unperturbed forward, no autograd, progress and cancellation."""

import io

import pytest
import torch
from captum.testing.helpers.basic_models import BasicModel_MultiLayer
from torch import nn

import insight_widget.attr as ia
from insight_widget.attr import AttributionCancelled, attribution_progress, memory_budget
from insight_widget.testing import ResidualConvNet, image_batch, seeded

from .captum_oracle import assert_same
from .test_perturbation_real_models import one_thread  # noqa: F401  (module fixture)

GOLDEN_INPUT = torch.tensor([[20.0, 50.0, 30.0]])


class Linear(nn.Module):
    """f(x, y) = x.w + y.v + 3 per example (two inputs)."""

    def __init__(self):
        super().__init__()
        self.w = torch.tensor([1.0, -2.0, 3.0, 0.5])
        self.v = torch.tensor([[2.0, -1.0], [0.25, 4.0]])

    def forward(self, x, y):
        return x @ self.w + (y * self.v).sum((1, 2)) + 3


class RowCounter(nn.Module):
    """Wraps a model; records the rows of every forward and whether autograd was on."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.rows = []
        self.grad_enabled = []

    def forward(self, *args):
        self.rows.append(args[0].shape[0])
        self.grad_enabled.append(torch.is_grad_enabled())
        return self.model(*args)


def linear_inputs(n=3):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 4, generator=g), torch.randn(n, 2, 2, generator=g)


def test_exact_shapley_values_match_captums_golden_values():
    model = BasicModel_MultiLayer()
    result = ia.ShapleyValues(model).attribute(GOLDEN_INPUT, target=0)
    assert torch.allclose(result, torch.tensor([[230 / 3, 590 / 3, 350 / 3]]), rtol=1e-6)
    grouped = ia.ShapleyValues(model).attribute(GOLDEN_INPUT, target=0,
                                                feature_mask=torch.tensor([[0, 0, 1]]))
    assert torch.allclose(grouped, torch.tensor([[275.0, 275.0, 115.0]]), rtol=1e-6)


def test_kernel_shap_of_a_locally_linear_model_gives_captums_golden_values():
    torch.manual_seed(0)
    result = ia.KernelShap(BasicModel_MultiLayer()).attribute(
        GOLDEN_INPUT, target=0, baselines=torch.tensor([[10.0, 20.0, 10.0]]), n_samples=50)
    assert torch.allclose(result, torch.tensor([[40.0, 120.0, 80.0]]), rtol=1e-4)


def test_kernel_shap_converges_to_the_golden_shapley_values():
    torch.manual_seed(0)
    result = ia.KernelShap(BasicModel_MultiLayer()).attribute(GOLDEN_INPUT, target=0,
                                                              n_samples=500)
    assert torch.allclose(result, torch.tensor([[230 / 3, 590 / 3, 350 / 3]]), atol=1.0)


@pytest.mark.parametrize("n_samples", [1, 3, 10])
def test_shapley_value_sampling_is_efficient_for_any_number_of_orders(n_samples):
    model = seeded(ResidualConvNet, seed=1, width=4)
    x = image_batch(2, size=8, seed=2)
    baseline = 0.5
    mask = torch.arange(3 * 16).reshape(1, 3, 4, 4).repeat_interleave(2, 2).repeat_interleave(
        2, 3)
    torch.manual_seed(n_samples)
    phi = ia.ShapleyValueSampling(model).attribute(x, baselines=baseline, target=1,
                                                   feature_mask=mask, n_samples=n_samples)
    with torch.no_grad():
        gap = model(x)[:, 1] - model(torch.full_like(x, baseline))[:, 1]
    per_group = phi.reshape(2, 3, 4, 2, 4, 2)[:, :, :, 0, :, 0].reshape(2, -1).sum(1)
    assert torch.allclose(per_group, gap, rtol=1e-5, atol=1e-5)


def test_shapley_values_are_efficient_and_symmetric():
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 1))
    x = torch.randn(2, 5)
    x[:, 4] = x[:, 3]
    with torch.no_grad():
        model[0].weight[:, 4] = model[0].weight[:, 3]
    phi = ia.ShapleyValues(model).attribute(x, baselines=0.0)
    assert phi.shape == (2, 1, 5)  # Captum's Shapley shape: output (2, 1), then the features
    phi = phi[:, 0]
    with torch.no_grad():
        gap = (model(x) - model(torch.zeros_like(x))).squeeze(1)
    assert torch.allclose(phi.sum(1), gap, rtol=1e-5, atol=1e-6)
    assert torch.allclose(phi[:, 3], phi[:, 4], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["FeatureAblation", "ShapleyValues", "ShapleyValueSampling"])
def test_linear_model_attributions_are_weight_times_input_minus_baseline(name):
    model = Linear()
    x, y = linear_inputs()
    baselines = (torch.tensor([[0.5, -1.0, 2.0, 0.0]]), 1.5)
    torch.manual_seed(0)
    kwargs = {"n_samples": 3} if name == "ShapleyValueSampling" else {}
    ax, ay = getattr(ia, name)(model).attribute((x, y), baselines=baselines, **kwargs)
    assert torch.allclose(ax, model.w * (x - baselines[0]), rtol=1e-5, atol=1e-5)
    assert torch.allclose(ay, model.v * (y - 1.5), rtol=1e-5, atol=1e-5)


def test_kernel_shap_recovers_exact_shapley_values_of_a_linear_model():
    model = Linear()
    x, y = linear_inputs(1)
    torch.manual_seed(0)
    ax, ay = ia.KernelShap(model).attribute((x, y), baselines=(0.25, -1.0), n_samples=40)
    assert torch.allclose(ax, model.w * (x - 0.25), rtol=1e-4, atol=1e-4)
    assert torch.allclose(ay, model.v * (y + 1.0), rtol=1e-4, atol=1e-4)


def test_ablation_of_an_aggregated_output_has_one_row():
    model = Linear()
    x, y = linear_inputs()

    def total(a, b):
        return model(a, b).sum()

    ax, ay = ia.FeatureAblation(total).attribute((x, y))
    assert ax.shape == (1, 4) and ay.shape == (1, 2, 2)
    assert torch.allclose(ax, (model.w * x).sum(0, keepdim=True), rtol=1e-5)


def test_occlusion_with_a_one_element_window_is_feature_ablation():
    model = seeded(ResidualConvNet, seed=1, width=4)
    x = image_batch(2, size=6, seed=3)
    occluded = ia.Occlusion(model).attribute(x, sliding_window_shapes=(1, 1, 1), target=[1, 4],
                                             baselines=0.1)
    ablated = ia.FeatureAblation(model).attribute(x, target=[1, 4], baselines=0.1)
    assert_same(occluded, ablated)


def test_occlusion_averages_the_windows_covering_each_element():
    x = torch.arange(1.0, 6.0).reshape(1, 5)

    def squares(t):
        return t.pow(2).sum(1)

    result = ia.Occlusion(squares).attribute(x, sliding_window_shapes=(4,), strides=3)
    # windows [0:4] (drop 30) and [3:5] (drop 41, cut off at the end); element 3 is in both
    assert torch.allclose(result, torch.tensor([[30.0, 30.0, 30.0, 35.5, 41.0]]))


METHODS = [
    ("FeatureAblation", {}),
    ("FeaturePermutation", {}),
    ("Occlusion", {"sliding_window_shapes": (3, 2, 2), "strides": (3, 2, 1)}),
    ("ShapleyValueSampling", {"n_samples": 2}),
    ("Lime", {"n_samples": 12}),
    ("KernelShap", {"n_samples": 12}),
]


def _image_call(name, extra):
    model = seeded(ResidualConvNet, seed=2, width=4)
    x = image_batch(3, size=4, seed=4)
    mask = torch.arange(12).reshape(1, 3, 2, 2).repeat_interleave(2, 2).repeat_interleave(2, 3)
    kwargs = dict(extra, target=[0, 3, 5])
    if name != "Occlusion":
        kwargs["feature_mask"] = mask
    return model, x, kwargs


@pytest.mark.parametrize(("name", "extra"), METHODS, ids=[m[0] for m in METHODS])
def test_results_do_not_depend_on_the_batching(name, extra):
    model, x, kwargs = _image_call(name, extra)
    results = []
    for ppe, budget in [(1, None), (1, 1), (2, None), (5, None), (64, None)]:
        torch.manual_seed(3)
        if budget is None:
            results.append(getattr(ia, name)(model).attribute(x, perturbations_per_eval=ppe,
                                                              **kwargs))
        else:
            with memory_budget(budget):  # one copy per forward pass
                results.append(getattr(ia, name)(model).attribute(x, **kwargs))
    for other in results[1:]:
        assert_same(other, results[0], rtol=1e-5, atol=1e-6)


def test_default_batching_packs_copies_and_runs_the_unperturbed_forward_once():
    counter = RowCounter(seeded(ResidualConvNet, seed=2, width=4)).eval()
    x = image_batch(2, size=4, seed=5)
    ia.FeatureAblation(counter).attribute(x, target=1)
    assert sum(counter.rows) == 2 * (1 + 48)  # N x (unperturbed + one copy per feature)
    assert counter.rows[0] == 2 and len(counter.rows) == 2  # one call holds all 48 copies
    assert not any(counter.grad_enabled)


def test_default_batching_falls_back_to_one_copy_per_pass_when_rows_interact():
    counter = RowCounter(seeded(ResidualConvNet, seed=2, width=4)).train()
    x = image_batch(2, size=4, seed=5)
    ia.FeatureAblation(counter).attribute(x, target=1, feature_mask=torch.zeros(1, 3, 4, 4,
                                                                               dtype=torch.long))
    assert counter.rows == [2, 2]


def test_default_batching_falls_back_when_the_output_does_not_grow_with_the_batch():
    calls = []

    def per_batch_pair(x):  # two numbers for the whole batch, whatever its size
        calls.append(x.shape[0])
        return torch.stack([x.sum(), (2 * x).sum()])

    class Wrapper(nn.Module):
        def forward(self, x):
            return per_batch_pair(x)

    x = torch.randn(2, 3)
    result = ia.FeatureAblation(Wrapper()).attribute(x)
    assert torch.allclose(result, torch.stack([x.sum(0), 2 * x.sum(0)]), rtol=1e-5)
    assert calls[0] == 2 and calls[1] == 6 and set(calls[2:]) == {2}


def test_progress_callback_sees_increasing_fractions_and_can_cancel():
    model = seeded(ResidualConvNet, seed=2, width=4)
    x = image_batch(1, size=4, seed=6)
    seen = []
    with memory_budget(1), attribution_progress(seen.append):
        ia.Occlusion(model).attribute(x, sliding_window_shapes=(1, 2, 2), target=0)  # 27 windows
    fractions = [f for f in seen if f >= 0]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 27

    def stop_half_way(fraction):
        return fraction < 0.5

    with pytest.raises(AttributionCancelled), memory_budget(1), \
            attribution_progress(stop_half_way):
        ia.ShapleyValueSampling(model).attribute(x, target=0, n_samples=2)


def test_show_progress_prints_a_bar_titled_like_captums(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    ia.KernelShap(Linear()).attribute(linear_inputs(1), n_samples=6, show_progress=True)
    # tqdm's bar, counting the 6 samples: "Kernel Shap attribution: 100%|##########| 6/6 [...]"
    assert "Kernel Shap attribution: 100%|" in stream.getvalue()
    assert "| 6/6 [" in stream.getvalue()


@pytest.mark.parametrize("name", ["FeatureAblation", "FeaturePermutation",
                                  "ShapleyValueSampling"])
def test_attribute_future_waits_for_future_outputs(name):
    model = Linear()
    x, y = linear_inputs()

    def future_model(a, b):
        future = torch.futures.Future()
        future.set_result(model(a, b))
        return future

    torch.manual_seed(0)
    expected = getattr(ia, name)(model).attribute((x, y))
    torch.manual_seed(0)
    result = getattr(ia, name)(future_model).attribute_future((x, y)).wait()
    assert_same(result, expected)


def test_memory_budget_caps_an_explicit_perturbations_per_eval():
    counter = RowCounter(seeded(ResidualConvNet, seed=2, width=4)).eval()
    x = image_batch(2, size=4, seed=5)
    with memory_budget(1):
        ia.FeatureAblation(counter).attribute(x, target=1, perturbations_per_eval=16)
    assert counter.rows == [2] * 49


def test_feature_permutation_keeps_captums_random_stream_when_the_budget_splits_blocks():
    import captum.attr as captum_attr

    def model(a, b):
        return a.sum(1) * 2 + b.prod(1)

    g = torch.Generator().manual_seed(1)
    inputs = (torch.randn(4, 3, generator=g), torch.randn(4, 2, generator=g))
    masks = (torch.tensor([[0, 2, 2]]), torch.tensor([[1, 3]]))
    results = []
    for library, budget in ((ia, 1), (captum_attr, None)):
        torch.manual_seed(8)
        algorithm = library.FeaturePermutation(model)
        if budget is None:
            results.append(algorithm.attribute(inputs, feature_mask=masks,
                                               perturbations_per_eval=3))
        else:
            with memory_budget(budget):
                results.append(algorithm.attribute(inputs, feature_mask=masks,
                                                   perturbations_per_eval=3))
    assert_same(*results)


class PartialListener:
    """A progress callback that takes every partial result the engine offers."""

    def __init__(self) -> None:
        self.partials = []

    def __call__(self, fraction):
        return True

    def partial_result(self, make):
        self.partials.append(tuple(t.clone() for t in make()))


def test_feature_ablation_offers_its_map_as_groups_finish_each_group_final_or_zero():
    model = Linear()
    x = linear_inputs(1)
    listener = PartialListener()
    with memory_budget(1), attribution_progress(listener):  # a budget of one copy per pass
        final = ia.FeatureAblation(model).attribute(x, target=None)
    n_features = sum(t[0].numel() for t in x)
    # one partial after every group but the last (that one is the result itself)
    assert len(listener.partials) == n_features - 1
    for done, partial in enumerate(listener.partials, start=1):
        flat_partial = torch.cat([p.reshape(-1) for p in partial])
        flat_final = torch.cat([f.reshape(-1) for f in final])
        # Feature ablation's groups are the elements in order: the first `done` are final
        assert torch.equal(flat_partial[:done], flat_final[:done])
        assert (flat_partial[done:] == 0).all()


def test_occlusion_offers_partial_maps_that_end_at_the_result():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.Tanh(), nn.Flatten(),
                          nn.Linear(2 * 8 * 8, 3))
    x = torch.rand(1, 3, 8, 8)
    listener = PartialListener()
    with memory_budget(1), attribution_progress(listener):
        final = ia.Occlusion(model).attribute(x, sliding_window_shapes=(3, 2, 2), strides=2,
                                              target=0)
    assert len(listener.partials) >= 2
    # windows add up: every element evaluated so far keeps its value until the next window
    # over it arrives; the zero share shrinks and the last partial misses only the last chunk
    zeros = [int((p[0] == 0).sum()) for p in listener.partials]
    assert zeros == sorted(zeros, reverse=True) and zeros[0] > zeros[-1]
    assert (final != 0).sum() > (listener.partials[-1][0] != 0).sum() and (final != 0).all()


def test_no_partial_result_is_built_when_nobody_listens(monkeypatch):
    from insight_widget.attr._utils import perturbation

    offered, built = [], []
    original = perturbation.report_partial

    def counting(make):
        offered.append(1)
        original(lambda: built.append(1) or make())

    monkeypatch.setattr(perturbation, "report_partial", counting)
    with memory_budget(1), attribution_progress(lambda fraction: True):
        ia.FeatureAblation(Linear()).attribute(linear_inputs(1), target=None)
    assert offered and built == []  # offered after every chunk, built by nobody
    with memory_budget(1), attribution_progress(PartialListener()):
        ia.FeatureAblation(Linear()).attribute(linear_inputs(1), target=None)
    assert len(built) == len(offered) // 2  # a listener that takes them builds each once


def test_shapley_value_sampling_offers_the_estimate_of_the_orders_evaluated_so_far():
    model = Linear()
    x = linear_inputs(1)
    listener = PartialListener()
    torch.manual_seed(0)
    with memory_budget(1), attribution_progress(listener):
        final = ia.ShapleyValueSampling(model).attribute(x, target=None, n_samples=3)
    assert len(listener.partials) >= 3
    # a linear model: every order gives the exact Shapley values, so every partial estimate
    # from >= 1 complete order equals the final one; before the first order ends it is zero
    complete = [p for p in listener.partials if any(t.abs().sum() > 0 for t in p)]
    assert complete and len(complete) < len(listener.partials)
    # outputs are O(10) (standard normal inputs, weights <= 4): a difference of two float32
    # outputs and a mean over <= 3 orders round at ~ a few eps x 10 ~ 1e-6; 1e-5 bounds that
    for partial in complete:
        for p, f in zip(partial, final):
            assert torch.allclose(p, f, rtol=0, atol=1e-5)
