"""Behaviours of the perturbation family that Captum's own test suite checks (issue 11):
tqdm progress bars, ``attribute_future``, permutation groups that cannot be permuted, inputs
of different batch sizes, bool and promoted baselines, output dtypes, empty inputs, Shapley
values of several outputs per example, NoiseTunnel with per-example masks, LIME's padded
coefficients. Our own models and data; each test failed before its fix.
"""

import io
import threading
import time
import warnings

import pytest
import torch
from torch import nn

import insight_widget.attr as ia

WEIGHTS = torch.tensor([1.5, -2.0, 0.5, 3.0])


def weighted_sum(x):
    """(N, 4) -> (N,): a linear model whose ablation attributions are w * (x - baseline)."""
    return (x * WEIGHTS).sum(1)


def batch(n=3, seed=0):
    return torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- progress bars (tqdm)

PROGRESS_CASES = [
    ("FeatureAblation", "Feature Ablation", {}),
    ("FeaturePermutation", "Feature Permutation", {}),
    ("Occlusion", "Occlusion", {"sliding_window_shapes": (1,)}),
    ("ShapleyValueSampling", "Shapley Value Sampling", {"n_samples": 2}),
    ("ShapleyValues", "Shapley Values", {}),
    ("Lime", "Lime", {"n_samples": 10}),
    ("KernelShap", "Kernel Shap", {"n_samples": 10}),
]


@pytest.mark.parametrize(("name", "title", "kwargs"), PROGRESS_CASES)
def test_show_progress_draws_a_tqdm_bar_with_captums_title(monkeypatch, name, title, kwargs):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    getattr(ia, name)(weighted_sum).attribute(batch(), show_progress=True, **kwargs)
    text = stream.getvalue()
    # tqdm's format: "<desc>: 100%|<bar>| n/n [elapsed<remaining, rate]"
    assert f"{title} attribution: 100%|" in text, text
    done = text.rsplit("| ", 1)[1].split(" ", 1)[0]
    count, total = done.split("/")
    assert count == total and int(total) > 0


def test_no_bar_is_drawn_without_show_progress(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    ia.FeatureAblation(weighted_sum).attribute(batch())
    assert stream.getvalue() == ""


# ---------------------------------------------------------------- attribute_future


def completed_later(function, delay=0.05, outstanding=None):
    """A forward returning an unfinished Future that a thread completes after ``delay``;
    ``outstanding`` records how many calls were unfinished at each call."""
    lock = threading.Lock()
    pending = [0]

    def forward(*inputs):
        future = torch.futures.Future()
        with lock:
            pending[0] += 1
            if outstanding is not None:
                outstanding.append(pending[0])

        def finish():
            time.sleep(delay)
            value = function(*inputs)
            with lock:
                pending[0] -= 1
            future.set_result(value)

        threading.Thread(target=finish, daemon=True).start()
        return future

    return forward


@pytest.mark.parametrize("name", ["FeatureAblation", "FeaturePermutation",
                                  "ShapleyValueSampling", "ShapleyValues"])
def test_attribute_future_returns_a_torch_future_of_the_attributions(name):
    x = batch()
    torch.manual_seed(3)
    expected = getattr(ia, name)(weighted_sum).attribute(x)
    torch.manual_seed(3)
    future = getattr(ia, name)(completed_later(weighted_sum)).attribute_future(x)
    assert type(future) is torch.Future  # Captum's type, not the Python subclass
    assert torch.allclose(future.wait(), expected)


def test_attribute_future_starts_every_perturbation_before_waiting_for_one():
    outstanding = []
    x = batch()
    ia.FeatureAblation(completed_later(weighted_sum, delay=0.1, outstanding=outstanding)
                       ).attribute_future(x).wait()
    # the unperturbed output is awaited alone (it sizes the evaluation); then the 4
    # perturbations (one per feature, one copy per call for a plain function) run at once
    assert outstanding[0] == 1 and max(outstanding) == 4


def test_attribute_with_a_future_returning_model_names_attribute_future():
    with pytest.raises(TypeError, match=r"returned a torch.futures.Future.*attribute_future"):
        ia.FeatureAblation(completed_later(weighted_sum)).attribute(batch())


def test_attribute_future_with_a_tensor_returning_model_is_rejected():
    with pytest.raises(TypeError, match=r"`attribute_future` needs a forward_func that returns "
                                        r"a torch.futures.Future; it returned Tensor"):
        ia.FeatureAblation(weighted_sum).attribute_future(batch())


def test_attribute_future_reports_a_bad_target_as_the_target_error():
    def two_outputs(x):
        return torch.stack([weighted_sum(x), -weighted_sum(x)], 1)

    with pytest.raises(ValueError, match=r"`target` index 5 is out of range"):
        ia.FeatureAblation(completed_later(two_outputs)).attribute_future(batch(), target=5)


@pytest.mark.parametrize("build", [
    lambda: ia.Saliency(nn.Linear(4, 1)),
    lambda: ia.IntegratedGradients(nn.Linear(4, 1)),
    lambda: ia.Occlusion(weighted_sum),
    lambda: ia.Lime(weighted_sum),
    lambda: ia.KernelShap(weighted_sum),
    lambda: ia.NoiseTunnel(ia.Saliency(nn.Linear(4, 1))),
    lambda: ia.DataLoaderAttribution(ia.FeatureAblation(weighted_sum)),
])
def test_attribute_future_is_not_implemented_elsewhere(build):
    with pytest.raises(NotImplementedError, match="does not support attribute_future"):
        build().attribute_future()


# ---------------------------------------------------------------- permutation groups


def test_feature_permutation_of_a_single_example_gives_zero_with_a_warning():
    with pytest.warns(UserWarning, match=r"4 of 4 feature group\(s\) lie in an input with "
                                         r"fewer than 2 examples"):
        result = ia.FeaturePermutation(weighted_sum).attribute(batch(1))
    assert result.shape == (1, 4) and bool((result == 0).all())


def test_when_no_group_can_be_permuted_every_attribution_is_zero_whatever_the_masks():
    def model(x, extra):
        return weighted_sum(x)

    x, extra = batch(1), batch(2)[:, :2]
    mask = (torch.zeros(4, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long))
    with pytest.warns(UserWarning, match=r"1 of 1 feature group"):
        ax, aextra = ia.FeaturePermutation(model).attribute((x, extra), feature_mask=mask)
    assert ax.shape == (1, 4) and aextra.shape == (1, 2)
    assert bool((ax == 0).all()) and bool((aextra == 0).all())


def test_a_group_shared_with_a_one_example_input_is_not_permuted_the_others_are():
    def model(x, extra):
        return weighted_sum(x).sum() + extra.sum()

    x, extra = batch(3), torch.tensor([[5.0, 7.0]])
    mask = (torch.tensor([[0, 0, 1, 1]]), torch.tensor([[1, 1]]))  # group 1 spans both
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match=r"1 of 2 feature group"):
        ax, aextra = ia.FeaturePermutation(model).attribute((x, extra), feature_mask=mask)
    assert bool((ax[:, 2:] == 0).all()) and bool((aextra == 0).all())
    # group 0 is permuted across the 3 rows: an aggregated output does not change
    assert torch.allclose(ax[:, :2], torch.zeros(1, 2), atol=1e-5)


@pytest.mark.parametrize("name", ["FeatureAblation", "FeaturePermutation"])
def test_inputs_may_have_different_batch_sizes_for_an_aggregated_output(name):
    """A list of sparse ids next to the examples (Captum's sparse-feature case)."""

    def model(x, ids):
        return weighted_sum(x).sum() + 10 * ids.float().sum()

    x, ids = batch(3), torch.tensor([4, 1, 2, 9, 3])
    torch.manual_seed(0)
    ax, aids = getattr(ia, name)(model).attribute((x, ids))
    assert ax.shape == (1, 4) and aids.shape == (1,)
    if name == "FeatureAblation":  # ids ablated to 0: the output drops by 10 * sum(ids)
        assert torch.allclose(aids, torch.tensor([190.0]))
        assert torch.allclose(ax, (WEIGHTS * x.sum(0)).unsqueeze(0), atol=1e-4)
    else:  # permuting the ids (or the rows of x) leaves sums unchanged
        assert torch.allclose(aids, torch.zeros(1), atol=1e-4)


def test_an_empty_input_gets_a_zero_attribution():
    def model(x, ids):
        return weighted_sum(x).sum() + (ids.float().sum() if ids.numel() else 0.0)

    x = batch(2)
    ax, aids = ia.FeatureAblation(model).attribute((x, torch.tensor([])))
    assert aids.shape == (1,) and float(aids) == 0.0
    assert torch.allclose(ax, (WEIGHTS * x.sum(0)).unsqueeze(0), atol=1e-4)


def test_a_float_mask_groups_across_inputs_like_its_integer_twin():
    def model(a, b):
        return weighted_sum(a) * b.sum(1)

    a, b = batch(3), batch(3, seed=1)[:, :2]
    float_mask = (torch.zeros(1, 4), torch.zeros(1, 2))  # one group over both inputs
    integer_mask = tuple(m.long() for m in float_mask)
    torch.manual_seed(0)
    from_float = ia.FeaturePermutation(model).attribute((a, b), feature_mask=float_mask)
    torch.manual_seed(0)
    from_int = ia.FeaturePermutation(model).attribute((a, b), feature_mask=integer_mask)
    for f, i in zip(from_float, from_int):
        assert torch.equal(f, i)
    # one group: every element of both inputs of an example holds the same value
    assert torch.allclose(from_float[0], from_float[1][:, :1].expand(3, 4))


# ---------------------------------------------------------------- baselines and dtypes


class BoolModel(nn.Module):
    """Counts set flags with weights; refuses anything but bool input, like a lookup would."""

    def forward(self, flags):
        if flags.dtype != torch.bool:
            raise TypeError(f"expected bool flags, got {flags.dtype}")
        return (flags.float() * WEIGHTS[:3]).sum(1)


@pytest.mark.parametrize(("name", "kwargs"), [
    ("FeatureAblation", {}), ("ShapleyValueSampling", {"n_samples": 3}),
    ("ShapleyValues", {}), ("Lime", {"n_samples": 40}), ("KernelShap", {"n_samples": 40}),
])
@pytest.mark.parametrize("baselines", [None, True])
def test_bool_inputs_take_bool_baselines(name, kwargs, baselines):
    flags = torch.tensor([[True, False, True]])
    mask = torch.tensor([[0, 0, 1]])
    torch.manual_seed(0)
    result = getattr(ia, name)(BoolModel()).attribute(flags, baselines=baselines,
                                                      feature_mask=mask, **kwargs)
    assert result.shape == (1, 3) and bool(torch.isfinite(result).all())
    if name == "Lime":  # a Lasso fit: shrunk coefficients, no closed form to compare with
        return
    # ablation, Shapley values and Kernel SHAP are exact for two groups of a linear model:
    # a group's value is the sum of w * (flag - baseline flag) over its elements
    baseline = torch.zeros(1, 3) if baselines is None else torch.ones(1, 3)
    gaps = WEIGHTS[:3] * (flags.float() - baseline)
    expected = torch.stack([gaps[0, :2].sum(), gaps[0, :2].sum(), gaps[0, 2]]).unsqueeze(0)
    assert torch.allclose(result.float(), expected, atol=1e-4)


def test_integer_inputs_ablated_with_a_fractional_baseline_become_float_copies():
    seen = []

    def model(x):
        seen.append(x.dtype)
        return (x.float() * WEIGHTS[:3]).sum(1)

    x = torch.tensor([[3, 1, 2]])
    result = ia.FeatureAblation(model).attribute(x, baselines=0.25)
    assert torch.allclose(result, WEIGHTS[:3] * (x - 0.25))
    assert seen[0] == torch.int64 and set(seen[1:]) == {torch.float32}


def test_the_default_baseline_keeps_the_input_dtype():
    seen = []

    def model(x):
        seen.append(x.dtype)
        return x.float().sum(1)

    ia.FeatureAblation(model).attribute(torch.tensor([[3, 1, 2]]))
    assert set(seen) == {torch.int64}


@pytest.mark.parametrize(("output", "dtype"), [
    (lambda x: float(weighted_sum(x).sum()), torch.float64),
    (lambda x: weighted_sum(x).sum().double(), torch.float64),
    (lambda x: int(weighted_sum(x).sum()), torch.int64),
])
def test_a_scalar_model_output_keeps_its_precision(output, dtype):
    x = batch(2)
    result = ia.FeatureAblation(output).attribute(x)
    assert result.dtype == dtype and result.shape == (1, 4)
    if dtype == torch.float64:  # float64 holds the sums without float32 rounding
        expected = (WEIGHTS.double() * x.double().sum(0)).unsqueeze(0)
        assert torch.allclose(result, expected, rtol=1e-6)


# ---------------------------------------------------------------- surrogates and Shapley


@pytest.mark.parametrize("name", ["Lime", "KernelShap"])
def test_an_empty_input_next_to_a_real_one_gets_an_empty_attribution(name):
    def model(x, nothing):
        return weighted_sum(x) + nothing.sum()

    x, nothing = batch(1), torch.empty(1, 0)
    torch.manual_seed(0)
    ax, anothing = getattr(ia, name)(model).attribute((x, nothing), n_samples=60)
    assert anothing.shape == (1, 0) and ax.shape == (1, 4)
    if name == "KernelShap":  # linear model, 60 samples > 5 unknowns: exact
        assert torch.allclose(ax, WEIGHTS * x, atol=1e-3)


def test_lime_coefficients_of_per_example_masks_are_zero_padded():
    x = batch(2)
    mask = torch.tensor([[0, 0, 1, 1], [0, 1, 2, 2]])  # 2 and 3 interpretable features
    torch.manual_seed(1)
    coefficients = ia.Lime(weighted_sum).attribute(x, feature_mask=mask, n_samples=50,
                                                   return_input_shape=False)
    torch.manual_seed(1)
    spread = ia.Lime(weighted_sum).attribute(x, feature_mask=mask, n_samples=50)
    assert coefficients.shape == (2, 3) and float(coefficients[0, 2]) == 0.0
    assert torch.allclose(coefficients[0, :2], spread[0, [0, 2]])
    assert torch.allclose(coefficients[1], spread[1, [0, 1, 2]])


def several_outputs(x):
    """(N, 4) -> (N, 3): three tasks per example, the last constant."""
    return torch.stack([weighted_sum(x), 2 * weighted_sum(x), torch.ones(x.shape[0])], 1)


@pytest.mark.parametrize("name", ["ShapleyValueSampling", "ShapleyValues"])
@pytest.mark.parametrize("per_example_mask", [False, True])
def test_shapley_values_of_several_outputs_per_example_have_one_row_per_output(
        name, per_example_mask):
    x = batch(2)
    mask = torch.tensor([[0, 0, 1, 2], [0, 1, 1, 2]]) if per_example_mask else None
    torch.manual_seed(0)
    every = getattr(ia, name)(several_outputs).attribute(x, feature_mask=mask)
    assert every.shape == (2, 3, 4)  # (N, outputs, features), Captum's shape
    for task in range(3):
        torch.manual_seed(0)
        one = getattr(ia, name)(several_outputs).attribute(x, target=task, feature_mask=mask)
        assert torch.allclose(every[:, task], one, atol=1e-5)


def test_noise_tunnel_repeats_per_example_feature_masks_with_the_inputs():
    x = batch(2)
    mask = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1]])
    plain = ia.FeatureAblation(weighted_sum).attribute(x, feature_mask=mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smoothed = ia.NoiseTunnel(ia.FeatureAblation(weighted_sum)).attribute(
            x, feature_mask=mask, nt_samples=3, stdevs=1e-6)
    assert torch.allclose(smoothed, plain, atol=1e-4)


@pytest.mark.parametrize("name", ["FeatureAblation", "FeaturePermutation",
                                  "ShapleyValueSampling", "ShapleyValues"])
def test_attribute_future_has_captums_parameters(name):
    import inspect

    import captum.attr as captum_attr

    def parameters(cls):
        return [(p.name, p.default) for p in
                inspect.signature(cls.attribute_future).parameters.values()]

    assert parameters(getattr(ia, name)) == parameters(getattr(captum_attr, name))
