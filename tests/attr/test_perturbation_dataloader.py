"""DataLoaderAttribution: Captum's numbers for FeatureAblation, and every other perturbation
method attributing the same dataset metric as the method on the concatenated data."""

import captum.attr as captum_attr
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import insight_widget.attr as ia
from insight_widget.attr import memory_budget
from insight_widget.testing import seeded

from .captum_oracle import assert_same
from .test_perturbation_real_models import one_thread  # noqa: F401  (module fixture)

GENERATOR = torch.Generator().manual_seed(0)
X = torch.randn(6, 3, generator=GENERATOR)
Y = torch.randn(6, 2, generator=GENERATOR)
LABELS = torch.arange(6.0)


class TwoInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 4)
        self.b = nn.Linear(2, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, x, y, *ignored):
        return self.head(torch.tanh(self.a(x) + self.b(y))).squeeze(1)


def loader(batch_size=4):
    return DataLoader(TensorDataset(X, Y, LABELS), batch_size=batch_size)


def squared_error(accum, output, batch):
    error = ((output - batch[2] / 6) ** 2).sum()
    return error if accum is None else accum + error


CASES = [
    dict(input_roles=(0, 0, 2)),
    dict(input_roles=(0, 1, 2)),
    dict(input_roles=(0, 0, 1)),
    dict(input_roles=(0, 0, 2), perturbations_per_pass=3),
    dict(input_roles=(0, 0, 2), feature_mask=(torch.tensor([[0, 0, 1]]), torch.tensor([[1, 2]])),
         return_input_shape=False),
    dict(input_roles=(0, 0, 2), return_input_shape=False),
    dict(input_roles=(0, 0, 2), baselines=(torch.ones(1, 3), 2.0)),
    dict(input_roles=(0, 0, 2), reduce=squared_error),
    dict(input_roles=(0, 0, 2), reduce=squared_error, to_metric=torch.sqrt),
]


@pytest.mark.parametrize("kwargs", CASES)
def test_feature_ablation_over_a_dataloader_matches_captum(kwargs):
    model = seeded(TwoInput, seed=1)
    ours = ia.DataLoaderAttribution(ia.FeatureAblation(model)).attribute(loader(), **kwargs)
    theirs = captum_attr.DataLoaderAttribution(captum_attr.FeatureAblation(model)).attribute(
        loader(), **kwargs)
    assert_same(ours, theirs)


def test_traversals_share_perturbations_by_default_and_follow_perturbations_per_pass():
    model = seeded(TwoInput, seed=1)
    calls = []

    def counted(*args):
        calls.append(args[0].shape[0])
        return model(*args)

    ia.DataLoaderAttribution(ia.FeatureAblation(counted)).attribute(loader(),
                                                                    input_roles=(0, 0, 2))
    default_calls = len(calls)
    calls.clear()
    ia.DataLoaderAttribution(ia.FeatureAblation(counted)).attribute(
        loader(), input_roles=(0, 0, 2), perturbations_per_pass=2)
    # 2 batches per traversal; a plain function is evaluated one copy per call: unperturbed
    # traversal + 5 copies, whatever the grouping into traversals
    assert len(calls) == default_calls == 2 * 6


def test_copies_of_a_batch_share_one_forward_pass_for_modules():
    model = seeded(TwoInput, seed=1)
    calls = []
    model.register_forward_pre_hook(lambda m, args: calls.append(args[0].shape[0]))
    ia.DataLoaderAttribution(ia.FeatureAblation(model)).attribute(loader(), input_roles=(0, 0, 2))
    assert sorted(calls) == [2, 4, 2 * 5, 4 * 5]  # unperturbed pass, then 5 copies per batch


def kept_fraction_similarity(original, perturbed, interpretable, **kwargs):
    """A LIME similarity of the interpretable sample alone (the same on both sides; the
    default cosine kernel compares the inputs it is given, which differ between the two)."""
    return float(torch.exp(interpretable.float().mean() - 1))


CONSTRUCT = {"Lime": {"similarity_func": kept_fraction_similarity}}


def full_data_metric(method_name, **kwargs):
    """The method on all data at once, attributing the sum of squared errors."""
    model = seeded(TwoInput, seed=1)

    def metric(x, y):
        return ((model(x, y) - LABELS / 6) ** 2).sum()

    return getattr(ia, method_name)(metric, **CONSTRUCT.get(method_name, {})).attribute(
        (X, Y), feature_mask=(torch.tensor([[0, 1, 2]]), torch.tensor([[3, 4]])), **kwargs)


@pytest.mark.parametrize(("name", "kwargs"), [
    ("ShapleyValueSampling", {"n_samples": 4}),
    ("ShapleyValues", {}),
    ("KernelShap", {"n_samples": 20}),
    ("Lime", {"n_samples": 20}),
])
def test_other_methods_attribute_the_dataset_metric(name, kwargs):
    model = seeded(TwoInput, seed=1)
    torch.manual_seed(4)
    method = getattr(ia, name)(model, **CONSTRUCT.get(name, {}))
    ours = ia.DataLoaderAttribution(method).attribute(
        loader(), input_roles=(0, 0, 2), reduce=squared_error, **kwargs)
    torch.manual_seed(4)
    expected = full_data_metric(name, **kwargs)
    assert_same(ours, expected, rtol=1e-4, atol=1e-5)


def test_occlusion_over_a_dataloader_equals_occlusion_of_the_metric():
    model = seeded(TwoInput, seed=1)
    ours = ia.DataLoaderAttribution(ia.Occlusion(model)).attribute(
        loader(), input_roles=(0, 0, 2), reduce=squared_error,
        sliding_window_shapes=((2,), (1,)))

    def metric(x, y):
        return ((model(x, y) - LABELS / 6) ** 2).sum()

    expected = ia.Occlusion(metric).attribute((X, Y), sliding_window_shapes=((2,), (1,)))
    assert_same(ours, expected, rtol=1e-5, atol=1e-6)


def test_feature_permutation_permutes_within_each_batch():
    model = seeded(TwoInput, seed=1)

    def reverse(x, mask):
        return torch.where(mask, x.flip(0), x)

    ours = ia.DataLoaderAttribution(ia.FeaturePermutation(model, perm_func=reverse)).attribute(
        loader(), input_roles=(0, 0, 2), reduce=squared_error)
    with torch.no_grad():
        base = squared_error(None, model(X[:4], Y[:4]), (None, None, LABELS[:4])) + \
            squared_error(None, model(X[4:], Y[4:]), (None, None, LABELS[4:]))
        x = torch.cat([X[:4].flip(0), X[4:].flip(0)])
        permuted_first = x.clone()
        permuted_first[:, 1:] = X[:, 1:]
        changed = squared_error(None, model(permuted_first[:4], Y[:4]),
                                (None, None, LABELS[:4])) + squared_error(
            None, model(permuted_first[4:], Y[4:]), (None, None, LABELS[4:]))
    assert torch.allclose(ours[0][0, 0], base - changed, rtol=1e-5)


def test_dataloader_results_do_not_depend_on_the_memory_budget():
    model = seeded(TwoInput, seed=1)
    results = []
    for budget in (1, 1 << 30):
        with memory_budget(budget):
            results.append(ia.DataLoaderAttribution(ia.FeatureAblation(model)).attribute(
                loader(3), input_roles=(0, 0, 2), reduce=squared_error))
    assert_same(results[0], results[1])
