"""Bad input to perturbation methods: clear errors naming the argument; nothing left behind."""

import warnings

import pytest
import torch
from torch import nn

import insight_widget.attr as ia

X = torch.randn(2, 3)


def linear(x):
    return x.sum(1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x)


@pytest.mark.parametrize("name", ["FeatureAblation", "ShapleyValueSampling", "Lime"])
def test_feature_mask_of_the_wrong_shape_is_rejected(name):
    with pytest.raises(ValueError, match=r"`feature_mask` must be broadcastable.*\(2, 3\).*"
                                         r"\(1, 2\)"):
        getattr(ia, name)(linear).attribute(X, feature_mask=torch.tensor([[0, 1]]))


def test_feature_mask_with_a_batch_dimension_that_is_neither_one_nor_n_is_rejected():
    with pytest.raises(ValueError, match=r"first dimension 1 .* or 2"):
        ia.FeatureAblation(linear).attribute(X, feature_mask=torch.zeros(3, 3, dtype=torch.long))


@pytest.mark.parametrize("value", [0.5, float("nan"), float("inf")])
def test_a_float_feature_mask_must_hold_whole_numbers(value):
    with pytest.raises(ValueError, match=r"`feature_mask` must hold whole-number feature ids"):
        ia.FeatureAblation(linear).attribute(X, feature_mask=torch.tensor([[0.0, 1.0, value]]))


def test_feature_mask_must_have_one_tensor_per_input():
    with pytest.raises(ValueError, match=r"`feature_mask` must have one tensor per input \(2\)"):
        ia.FeatureAblation(lambda a, b: a.sum(1) + b.sum(1)).attribute(
            (X, X), feature_mask=torch.tensor([[0, 1, 2]]))


def test_negative_feature_ids_are_rejected_where_they_number_players():
    with pytest.raises(ValueError, match=r"`feature_mask` must hold feature ids >= 0; got -1"):
        ia.ShapleyValueSampling(linear).attribute(X, feature_mask=torch.tensor([[-1, 0, 1]]))


def test_window_larger_than_the_input_is_rejected():
    with pytest.raises(ValueError, match=r"`sliding_window_shapes` \(4,\) is larger than"):
        ia.Occlusion(linear).attribute(X, sliding_window_shapes=(4,))


def test_window_of_the_wrong_length_is_rejected():
    with pytest.raises(ValueError, match=r"`sliding_window_shapes` must be a tuple of 1 ints"):
        ia.Occlusion(linear).attribute(X, sliding_window_shapes=(1, 1))


@pytest.mark.parametrize("strides", [0, -1, (0,)])
def test_zero_or_negative_strides_are_rejected(strides):
    with pytest.raises(ValueError, match=r"`strides` must be positive ints"):
        ia.Occlusion(linear).attribute(X, sliding_window_shapes=(2,), strides=strides)


def test_strides_larger_than_the_window_are_rejected():
    with pytest.raises(ValueError, match=r"`strides` \(3,\) must not exceed the window"):
        ia.Occlusion(linear).attribute(X, sliding_window_shapes=(2,), strides=3)


@pytest.mark.parametrize("name", ["ShapleyValueSampling", "Lime", "KernelShap"])
@pytest.mark.parametrize("n_samples", [0, -3])
def test_n_samples_below_one_is_rejected(name, n_samples):
    with pytest.raises(ValueError, match=rf"`n_samples` must be an int >= 1; got {n_samples}"):
        getattr(ia, name)(linear).attribute(X, n_samples=n_samples)


def test_shapley_values_over_too_many_features_is_refused_with_the_count():
    with pytest.raises(ValueError, match=r"26 features would evaluate all 2\^26 = 67,108,864"):
        ia.ShapleyValues(linear).attribute(torch.randn(1, 26))


def test_shapley_values_over_ten_features_warns_with_the_count():
    with pytest.warns(UserWarning, match=r"10 features evaluates all 2\^10 = 1,024 coalitions"):
        result = ia.ShapleyValues(linear).attribute(torch.randn(1, 10))
    assert result.shape == (1, 10)


def test_feature_permutation_with_a_custom_minimum_of_one_example_names_the_batch():
    algorithm = ia.FeaturePermutation(linear)
    algorithm._min_examples_per_batch_grouped = 1  # Captum's knob: then perm_func must fail
    with pytest.raises(ValueError, match=r"at least 2 examples to permute across; got 1"):
        algorithm.attribute(X[:1])


def test_perturbations_per_eval_above_one_needs_an_output_that_grows_with_the_batch():
    with pytest.raises(ValueError, match=r"`perturbations_per_eval` > 1 needs a forward_func"):
        ia.FeatureAblation(lambda x: x.sum()).attribute(X, perturbations_per_eval=2)


@pytest.mark.parametrize("value", [0, 1.5])
def test_perturbations_per_eval_must_be_a_positive_int(value):
    with pytest.raises((ValueError, TypeError), match="`perturbations_per_eval` must be an int"):
        ia.FeatureAblation(linear).attribute(X, perturbations_per_eval=value)


def test_per_example_feature_mask_with_an_aggregated_output_is_rejected():
    with pytest.raises(ValueError, match="one grouping per example needs one model output"):
        ia.FeatureAblation(lambda x: x.sum()).attribute(
            X, feature_mask=torch.tensor([[0, 1, 1], [1, 0, 0]]))


def test_surrogate_methods_need_one_output_value_per_example():
    with pytest.raises(ValueError, match="Pass `target` to choose one value"):
        ia.Lime(Net()).attribute(X[:1], n_samples=4)


def test_interpretable_model_without_fit_is_rejected():
    with pytest.raises(TypeError, match="`interpretable_model` must provide fit"):
        ia.Lime(linear, interpretable_model=object())


def test_dataloader_attribution_rejects_gradient_methods_and_bad_roles():
    with pytest.raises(TypeError, match="`attr_method` must be a perturbation method"):
        ia.DataLoaderAttribution(ia.Saliency(linear))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X), batch_size=1)
    with pytest.raises(ValueError, match="`input_roles` must hold one role"):
        ia.DataLoaderAttribution(ia.FeatureAblation(linear)).attribute(loader,
                                                                       input_roles=(0, 2))


def test_errors_in_the_model_leave_no_hooks_behind():
    class Failing(Net):
        def forward(self, x):
            raise RuntimeError("broken model")

    model = Failing()
    with pytest.raises(RuntimeError, match="broken model"):
        ia.FeatureAblation(model).attribute(X)
    assert all(not m._forward_hooks for m in model.modules())


def test_nonfinite_inputs_warn_naming_the_input():
    x = X.clone()
    x[0, 0] = float("nan")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ia.FeatureAblation(linear).attribute(x)
    assert any("inputs contains NaN" in str(w.message) for w in caught)
