"""Perturbation family on real architectures, compared with captum 0.9.0.

Conv net with batch norm and residual blocks, text classifier from its embeddings (token
groups, padding mask as an extra argument) and from token ids (ablated to the padding id 0),
tabular MLP, and a two-input model; every target and baseline form of the scenarios.
Deterministic methods: rtol 1e-5, atol 1e-6. Sampled methods with the same seed on both
sides: the same tolerances, except the surrogate fits of Lime and KernelShap, whose tolerance
is a perturbation bound from the conditioning of the recorded fits (``surrogate_tolerance``:
float64 least squares against Captum's float32 scikit-learn fit, batched model outputs
against Captum's), so the comparison holds on any CPU and BLAS.
"""

import captum.attr as captum_attr
import pytest
import torch

import insight_widget.attr as ours_attr
from insight_widget.testing import EmbeddingTextClassifier, seeded, token_batch

from .captum_oracle import assert_same
from .real_models import scenario_params
from .surrogate_tolerance import (
    FLOAT32_SOLVER,
    SKLEARN_LASSO_TOL,
    fit_tolerance,
    recorded_fits,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread for this module: Captum's side runs hundreds of one-copy forwards
    of tiny batches, which spin-wait badly with two threads on a loaded two-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def coarse_mask(x):
    """Feature groups small enough for Captum's one-copy-per-forward side to stay fast:
    8x8 patches per channel for images, one group per token for embeddings, per element
    for tabular rows."""
    if x.dim() == 4:
        _, c, h, w = x.shape
        rows = torch.arange(h).div(8, rounding_mode="floor").view(1, h, 1)
        cols = torch.arange(w).div(8, rounding_mode="floor").view(1, 1, w)
        patch = rows * ((w + 7) // 8) + cols
        channels = torch.arange(c).view(c, 1, 1) * int(patch.max() + 1)
        return (channels + patch).unsqueeze(0)
    if x.dim() == 3:
        return torch.arange(x.shape[1]).view(1, -1, 1)
    return torch.arange(x.shape[1]).view(1, -1)


def masks_of(scenario):
    inputs = scenario.inputs if isinstance(scenario.inputs, tuple) else (scenario.inputs,)
    masks = []
    offset = 0
    for x in inputs:
        m = coarse_mask(x) + offset
        offset = int(m.max()) + 1
        masks.append(m)
    return tuple(masks) if isinstance(scenario.inputs, tuple) else masks[0]


def run_both(name, model, inputs, seed=None, construct=None, **kwargs):
    results = []
    for library in (ours_attr, captum_attr):
        algorithm = getattr(library, name)(model, **(construct or {}))
        if seed is not None:
            torch.manual_seed(seed)
        results.append(algorithm.attribute(inputs, **kwargs))
    return results


def assert_surrogates_agree(name, model, inputs, seed, captum_kwargs=None, **kwargs):
    """Lime/KernelShap, ours vs Captum's with the same seed, within the conditioning-based
    bound of their fits (``captum_kwargs`` replace arguments on Captum's side only)."""
    ours, theirs = getattr(ours_attr, name)(model), getattr(captum_attr, name)(model)
    with recorded_fits(ours, theirs) as (our_fits, their_fits):
        torch.manual_seed(seed)
        our_result = ours.attribute(inputs, **kwargs)
        torch.manual_seed(seed)
        their_result = theirs.attribute(inputs, **{**kwargs, **(captum_kwargs or {})})
    stopping = SKLEARN_LASSO_TOL if name == "Lime" else 0.0
    assert_same(our_result, their_result, rtol=1e-5,
                atol=fit_tolerance(our_fits, their_fits, FLOAT32_SOLVER, stopping))


@pytest.mark.parametrize("scenario", scenario_params())
def test_feature_ablation_matches_captum(scenario):
    kwargs = scenario.call(baselines=scenario.baselines, feature_mask=masks_of(scenario))
    assert_same(*run_both("FeatureAblation", scenario.model, scenario.inputs, **kwargs))


@pytest.mark.parametrize("scenario", scenario_params(size=8))
def test_occlusion_matches_captum(scenario):
    inputs = scenario.inputs if isinstance(scenario.inputs, tuple) else (scenario.inputs,)
    windows = tuple((3, 3, 3) if x.dim() == 4 else (2, x.shape[2]) if x.dim() == 3 else (2,)
                    for x in inputs)
    strides = tuple((3, 2, 2) if x.dim() == 4 else (1, 1) if x.dim() == 3 else 1
                    for x in inputs)
    if not isinstance(scenario.inputs, tuple):
        windows, strides = windows[0], strides[0]
    kwargs = scenario.call(baselines=scenario.baselines, sliding_window_shapes=windows,
                           strides=strides)
    assert_same(*run_both("Occlusion", scenario.model, scenario.inputs, **kwargs))


@pytest.mark.parametrize("scenario", scenario_params())
def test_shapley_value_sampling_matches_captum_with_the_same_seed(scenario):
    kwargs = scenario.call(baselines=scenario.baselines, feature_mask=masks_of(scenario),
                           n_samples=2)
    assert_same(*run_both("ShapleyValueSampling", scenario.model, scenario.inputs, seed=7,
                          **kwargs), rtol=1e-5, atol=1e-5)  # atol: sums of float32 differences


@pytest.mark.parametrize("scenario", scenario_params())
def test_feature_permutation_matches_captum_with_the_same_seed(scenario):
    kwargs = scenario.call(feature_mask=masks_of(scenario))
    assert_same(*run_both("FeaturePermutation", scenario.model, scenario.inputs, seed=11,
                          **kwargs))


# Captum's Lime splits a batch per example and fails on a 0-d tensor target ("len() of a 0-d
# tensor"); that scenario is compared against the equivalent int target below.
SURROGATE_SCENARIOS = [p for p in scenario_params() if p.id != "mlp-scalar-tensor-target"]


@pytest.mark.parametrize("scenario", SURROGATE_SCENARIOS)
@pytest.mark.parametrize("name", ["Lime", "KernelShap"])
def test_surrogate_methods_match_captum_with_the_same_seed(scenario, name):
    kwargs = scenario.call(baselines=scenario.baselines, feature_mask=masks_of(scenario),
                           n_samples=30)
    assert_surrogates_agree(name, scenario.model, scenario.inputs, 5, **kwargs)


@pytest.mark.parametrize("name", ["Lime", "KernelShap"])
def test_surrogate_methods_accept_a_0d_tensor_target_like_captums_int_target(name):
    (scenario,) = [p.values[0] for p in scenario_params() if p.id == "mlp-scalar-tensor-target"]
    assert_surrogates_agree(name, scenario.model, scenario.inputs, 5, {"target": 1},
                            target=torch.tensor(1), feature_mask=masks_of(scenario),
                            n_samples=30)


def test_token_ids_ablated_to_the_padding_id_match_captum():
    model = seeded(EmbeddingTextClassifier, seed=4)
    ids, mask = token_batch(3, length=10, seed=2)
    kwargs = dict(target=[2, 0, 1], additional_forward_args=(mask,), baselines=0)
    ours, theirs = run_both("FeatureAblation", model, ids, **kwargs)
    assert ours.dtype == theirs.dtype == torch.float32
    assert_same(ours, theirs)
    # Padding positions hold id 0 already: ablating them changes nothing.
    assert bool((ours[ids == 0] == 0).all())


def test_token_ids_shapley_values_match_captum():
    model = seeded(EmbeddingTextClassifier, seed=4)
    ids, mask = token_batch(1, length=4, seed=3)
    kwargs = dict(target=1, additional_forward_args=(mask,), baselines=0)
    assert_same(*run_both("ShapleyValues", model, ids, **kwargs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scenario", [s for s in scenario_params(size=8)
                                      if not isinstance(s.values[0].inputs, tuple)])
def test_occlusion_accepts_single_input_windows_nested_in_a_tuple_like_captum(scenario):
    x = scenario.inputs
    window = (3, 3, 3) if x.dim() == 4 else (2, x.shape[2]) if x.dim() == 3 else (2,)
    stride = (3, 2, 2) if x.dim() == 4 else (1, 1) if x.dim() == 3 else (1,)
    kwargs = scenario.call(baselines=scenario.baselines, sliding_window_shapes=(window,),
                           strides=(stride,))
    assert_same(*run_both("Occlusion", scenario.model, scenario.inputs, **kwargs))
