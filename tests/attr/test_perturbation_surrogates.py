"""LIME / Kernel SHAP surrogates and the API surface of the perturbation family.

Kernel SHAP's surrogate is exact float64 weighted least squares. On the samples Captum
draws it equals scikit-learn's LinearRegression in float64 to 1e-8; Captum itself hands
float32 arrays to scikit-learn, which in under-determined fits (fewer samples than features,
where the minimum-norm solution is ill-conditioned) can be off by much more, so there we
compare with the float64 solution of Captum's own samples.
"""

import inspect

import captum.attr as captum_attr
import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso, LinearRegression
from torch.utils.data import DataLoader, TensorDataset

import insight_widget.attr as ia
from insight_widget.attr.perturbation.interpretable_models import (
    LassoRegression,
    WeightedLinearRegression,
)
from insight_widget.testing import ResidualConvNet, image_batch, seeded

from .captum_oracle import assert_same
from .surrogate_tolerance import FLOAT32_SOLVER, fit_tolerance, recorded_fits
from .test_perturbation_real_models import one_thread  # noqa: F401  (module fixture)

PERTURBATION = ["FeatureAblation", "FeaturePermutation", "Occlusion", "ShapleyValueSampling",
                "ShapleyValues", "LimeBase", "Lime", "KernelShap", "DataLoaderAttribution"]


def regression_data(samples=40, features=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (samples, features), generator=g).float()
    y = x @ torch.randn(features, generator=g) + 0.1 * torch.randn(samples, generator=g)
    w = torch.rand(samples, generator=g) + 0.1
    return x, y, w


def test_weighted_least_squares_matches_scikit_learn_in_float64():
    for samples in (40, 4):  # over- and under-determined (minimum-norm solution)
        x, y, w = regression_data(samples)
        ours = WeightedLinearRegression()
        ours.fit_tensors(x, y, w)
        reference = LinearRegression().fit(x.double().numpy(), y.double().numpy(),
                                           sample_weight=w.double().numpy())
        assert np.allclose(ours.representation().numpy(), reference.coef_, atol=1e-5)
        assert np.allclose(ours.bias().numpy(), reference.intercept_, atol=1e-5)


def test_lasso_coordinate_descent_agrees_with_scikit_learn():
    x, y, w = regression_data()
    ours = LassoRegression(alpha=0.01, use_sklearn=False)
    ours.fit_tensors(x, y, w)
    reference = Lasso(alpha=0.01, tol=1e-10, max_iter=100000).fit(
        x.double().numpy(), y.double().numpy(), sample_weight=w.double().numpy())
    assert np.allclose(ours.representation().numpy(), reference.coef_, atol=1e-5)
    assert np.allclose(ours.bias().numpy(), reference.intercept_, atol=1e-5)


def test_surrogates_train_from_a_dataloader_like_captums_models():
    x, y, w = regression_data()
    model = WeightedLinearRegression()
    model.fit(DataLoader(TensorDataset(x, y, w), batch_size=7))
    direct = WeightedLinearRegression()
    direct.fit_tensors(x, y, w)
    assert torch.allclose(model.representation(), direct.representation())


def test_under_determined_kernel_shap_is_the_exact_fit_of_captums_samples():
    model = seeded(ResidualConvNet, seed=3, width=4)
    x = image_batch(1, size=8, seed=4)
    theirs, ours = captum_attr.KernelShap(model), ia.KernelShap(model)
    kwargs = dict(target=2, n_samples=30, return_input_shape=False)  # 192 features
    with recorded_fits(ours, theirs) as (our_fits, their_fits):
        torch.manual_seed(9)
        theirs.attribute(x, **kwargs)
        torch.manual_seed(9)
        result = ours.attribute(x, **kwargs)
    inputs, outputs, weights = (t.double().numpy() for t in their_fits[0][:3])
    exact = LinearRegression().fit(inputs, outputs, sample_weight=weights).coef_
    # Our samples' outputs come from batched forwards (last-bit differences from Captum's):
    # the minimum-norm fit amplifies them by its conditioning (see surrogate_tolerance).
    atol = fit_tolerance(our_fits, their_fits, FLOAT32_SOLVER)
    assert np.allclose(result.numpy().reshape(-1), exact, rtol=1e-5, atol=atol)


def test_lime_with_a_captum_interpretable_model_matches_captum():
    from captum._utils.models.linear_model import SkLearnRidge

    model = seeded(ResidualConvNet, seed=3, width=4)
    x = image_batch(2, size=4, seed=5)
    kwargs = dict(target=[1, 2], n_samples=20,
                  feature_mask=torch.arange(12).reshape(1, 3, 2, 2).repeat_interleave(
                      2, 2).repeat_interleave(2, 3))
    results = []
    for library in (ia, captum_attr):
        torch.manual_seed(2)
        results.append(library.Lime(model, interpretable_model=SkLearnRidge(alpha=0.5))
                       .attribute(x, **kwargs))
    assert_same(*results)


def test_lime_base_with_input_space_sampling_matches_captum():
    net = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    x = torch.randn(1, 5)

    def similarity(original, perturbed, interpretable, **kwargs):
        return torch.exp(-torch.norm(original - perturbed) ** 2 / kwargs["kernel_width"] ** 2)

    def perturb(original, **kwargs):
        return original + torch.randn_like(original)

    def to_interpretable(sample, original, **kwargs):
        return sample

    results = []
    for library in (ia, captum_attr):
        from captum._utils.models.linear_model import SkLearnLinearRegression
        lime = library.LimeBase(net, SkLearnLinearRegression(), similarity, perturb, False, None,
                                to_interpretable)
        torch.manual_seed(6)
        results.append(lime.attribute(x, target=1, n_samples=20, kernel_width=1.1))
    assert_same(*results, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", PERTURBATION)
def test_signatures_match_captum(name):
    ours, theirs = getattr(ia, name), getattr(captum_attr, name)
    for method in ("__init__", "attribute"):
        ours_parameters = inspect.signature(getattr(ours, method)).parameters
        captum_parameters = inspect.signature(getattr(theirs, method)).parameters
        assert list(ours_parameters)[:len(captum_parameters)] == list(captum_parameters)
        for parameter_name, parameter in captum_parameters.items():
            default = ours_parameters[parameter_name].default
            if callable(parameter.default):  # FeaturePermutation's perm_func
                assert default.__name__ == parameter.default.__name__
            else:
                assert default == parameter.default, (method, parameter_name)
        extra = list(ours_parameters)[len(captum_parameters):]
        # DataLoaderAttribution forwards extra keyword arguments to the wrapped method.
        assert extra == ([] if name != "DataLoaderAttribution" or method == "__init__"
                         else ["kwargs"])


@pytest.mark.parametrize("name", PERTURBATION[:-1])
def test_multiplies_by_inputs_and_names_match_captum(name):
    ours, theirs = getattr(ia, name), getattr(captum_attr, name)
    assert ours.get_name() == theirs.get_name()
    if name != "LimeBase":
        assert ours(torch.nn.Identity()).multiplies_by_inputs == theirs(
            torch.nn.Identity()).multiplies_by_inputs


def test_lime_without_scikit_learn_agrees_with_captum_to_its_stopping_tolerance():
    from insight_widget.testing import TabularMLP, seeded, tabular_batch

    model, x = seeded(TabularMLP, seed=6), tabular_batch(2, seed=3)
    torch.manual_seed(1)
    ours = ia.Lime(model, interpretable_model=LassoRegression(use_sklearn=False)).attribute(
        x, target=1, n_samples=60)
    torch.manual_seed(1)
    theirs = captum_attr.Lime(model).attribute(x, target=1, n_samples=60)
    # scikit-learn stops at a duality gap of 1e-4 (relative); ours solves to 1e-10.
    assert torch.allclose(ours, theirs, rtol=1e-3, atol=1e-4)
    assert bool((theirs != 0).any())


@pytest.mark.parametrize("name", ["Lime", "KernelShap"])
def test_token_id_inputs_work_with_the_default_similarity_like_captum(name):
    # Token ids are integers: the default kernel compares them as float values (Captum too).
    from captum._utils.models.linear_model import SkLearnRidge

    from insight_widget.testing import EmbeddingTextClassifier

    model = seeded(EmbeddingTextClassifier)
    generator = torch.Generator().manual_seed(4)
    tokens = torch.randint(1, 20, (2, 6), generator=generator)
    construct = {"interpretable_model": SkLearnRidge(alpha=0.5)} if name == "Lime" else {}
    results = []
    for library in (ia, captum_attr):
        torch.manual_seed(2)
        results.append(getattr(library, name)(model, **construct).attribute(
            tokens, target=1, n_samples=12, baselines=0))
    assert_same(*results)
    from insight_widget.attr.perturbation.lime import get_exp_kernel_similarity_function

    ours = get_exp_kernel_similarity_function()(tokens[:1], tokens[:1] * 0 + 3, None)
    theirs = captum_attr._core.lime.get_exp_kernel_similarity_function()(
        tokens[:1], tokens[:1] * 0 + 3, None)
    assert ours == pytest.approx(float(theirs), rel=1e-6)
