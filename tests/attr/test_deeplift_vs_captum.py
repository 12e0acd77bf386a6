"""DeepLift and DeepLiftShap compared with captum 0.9.0 (rtol 1e-5, atol 1e-6; deltas with
``assert_same_delta``) on real architectures and on a zoo of small ones covering every
supported module, pooling geometry, rule chaining and argument form."""

import captum.attr as captum_attr
import pytest
import torch
from torch import nn

import insight_widget.attr as ours_attr

from .captum_oracle import assert_same, assert_same_delta
from .real_models import scenario_params, with_baselines


def both(name, model, **construct):
    return (getattr(ours_attr, name)(model, **construct),
            getattr(captum_attr, name)(model, **construct))


def compare(name, model, inputs, construct=None, delta=False, **kwargs):
    ours, theirs = both(name, model, **(construct or {}))
    if delta:
        kwargs["return_convergence_delta"] = True
    result = ours.attribute(inputs, **kwargs), theirs.attribute(inputs, **kwargs)
    (assert_same_delta if delta else assert_same)(*result)


def distribution_like(inputs, count=3, seed=5):
    generator = torch.Generator().manual_seed(seed)
    single = not isinstance(inputs, tuple)
    drawn = tuple(torch.randn(count, *x.shape[1:], generator=generator)
                  for x in ((inputs,) if single else inputs))
    return drawn[0] if single else drawn


# ---- real architectures ------------------------------------------------------------------


@pytest.mark.parametrize("scenario", scenario_params())
def test_deeplift_matches_captum_on_real_models(scenario):
    compare("DeepLift", scenario.model, scenario.inputs, delta=True,
            **with_baselines(scenario))


@pytest.mark.parametrize("scenario", scenario_params())
def test_local_deeplift_matches_captum_on_real_models(scenario):
    compare("DeepLift", scenario.model, scenario.inputs, {"multiply_by_inputs": False},
            **with_baselines(scenario))


@pytest.mark.parametrize("scenario", scenario_params())
def test_deeplift_shap_matches_captum_on_real_models(scenario):
    compare("DeepLiftShap", scenario.model, scenario.inputs, delta=True,
            baselines=distribution_like(scenario.inputs), **scenario.call())


# ---- every supported module and pooling geometry ------------------------------------------


def _mlp(activation):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), activation, nn.Linear(6, 5), nn.Tanh(),
                         nn.Linear(5, 3))


ACTIVATIONS = [nn.ReLU(), nn.ELU(), nn.LeakyReLU(0.1), nn.Sigmoid(), nn.Tanh(), nn.Softplus(),
               nn.ReLU(inplace=True), nn.GELU()]


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=repr)
def test_each_activation_matches_captum(activation):
    x, baseline = torch.randn(5, 4), torch.randn(5, 4)
    compare("DeepLift", _mlp(activation), x, delta=True, baselines=baseline,
            target=[0, 1, 2, 0, 1])


class Pooled(nn.Module):
    def __init__(self, pool, dims, before=None, after=None):
        super().__init__()
        torch.manual_seed(1)
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]
        self.conv = conv(2, 3, 3, padding=1)
        self.before = before or nn.Identity()
        self.pool = pool
        self.after = after or nn.Identity()
        self.head = nn.LazyLinear(4)

    def forward(self, x):
        return self.head(self.after(self.pool(self.before(self.conv(x)))).flatten(1))


POOLS = [
    ("1d-k2", nn.MaxPool1d(2), 1),
    ("1d-k3-s2-overlap", nn.MaxPool1d(3, 2), 1),
    ("1d-ceil-pad", nn.MaxPool1d(3, 2, padding=1, ceil_mode=True), 1),
    ("2d-k2", nn.MaxPool2d(2), 2),
    ("2d-k3-s1-overlap", nn.MaxPool2d(3, 1), 2),
    ("2d-k3-s2-pad", nn.MaxPool2d(3, 2, padding=1), 2),
    ("3d-k2", nn.MaxPool3d(2), 3),
]


@pytest.mark.parametrize(("pool", "dims"), [p[1:] for p in POOLS], ids=[p[0] for p in POOLS])
@pytest.mark.parametrize("chain", ["alone", "relu-before", "relu-after"])
def test_maxpool_geometries_and_chains_match_captum(pool, dims, chain):
    model = Pooled(pool, dims, before=nn.ReLU() if chain == "relu-before" else None,
                   after=nn.ReLU() if chain == "relu-after" else None)
    size = {1: (3, 2, 10), 2: (3, 2, 7, 7), 3: (3, 2, 4, 4, 4)}[dims]
    x, baseline = torch.randn(size), torch.randn(size)
    model(x)  # materialise the lazy head
    compare("DeepLift", model, x, delta=True, baselines=baseline, target=1)


@pytest.mark.parametrize("dim", [1, -1, None])
def test_softmax_matches_captum(dim):
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 5), nn.Softmax(dim=dim), nn.Linear(5, 2), nn.Sigmoid())
    x, baseline = torch.randn(4, 3), torch.randn(4, 3)
    compare("DeepLift", model, x, delta=True, baselines=baseline, target=1)
    compare("DeepLiftShap", model, x, baselines=torch.randn(3, 3), target=0)


def test_softmax_with_small_differences_matches_captum():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=1), nn.Linear(4, 2))
    x, baseline = torch.randn(3, 3), torch.randn(3, 3)
    compare("DeepLift", model, x, {"eps": 0.3, "multiply_by_inputs": False},
            baselines=baseline, target=[0, 1, 1])


class ChainedAndShared(nn.Module):
    """Supported modules that consume each other's tensors, and a skip around a ReLU."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.fc1, self.fc2 = nn.Linear(4, 6), nn.Linear(6, 3)
        self.tanh, self.sigmoid, self.relu = nn.Tanh(), nn.Sigmoid(), nn.ReLU()

    def forward(self, x):
        hidden = self.fc1(x)
        return self.fc2(self.sigmoid(self.tanh(hidden)) + self.relu(hidden))


class ReLUSubclass(nn.ReLU):
    pass


def test_chained_and_shared_tensors_follow_captums_numbers():
    x, baseline = torch.randn(4, 4), torch.randn(4, 4)
    compare("DeepLift", ChainedAndShared(), x, delta=True, baselines=baseline, target=2)


def test_subclassed_activation_keeps_its_ordinary_gradient_like_captum():
    x, baseline = torch.randn(4, 4), torch.randn(4, 4)
    compare("DeepLift", _mlp(ReLUSubclass()), x, delta=True, baselines=baseline, target=0)


@pytest.mark.parametrize("eps", [0.0, 1e-10, 1e-3, 0.5])
def test_eps_matches_captum(eps):
    x = torch.randn(4, 4)
    baseline = x.clone()
    baseline[:, :2] += torch.randn(4, 2)  # half the features equal: small differences
    compare("DeepLift", _mlp(nn.ELU()), x, {"eps": eps}, baselines=baseline, target=1)


# ---- argument forms --------------------------------------------------------------------------


@pytest.mark.parametrize("baselines", [None, 0.5, "one-example", "per-example"])
def test_baseline_forms_match_captum(baselines):
    x = torch.randn(3, 4)
    forms = {"one-example": torch.randn(1, 4), "per-example": torch.randn(3, 4)}
    compare("DeepLift", _mlp(nn.ReLU()), x, delta=True,
            baselines=forms.get(baselines, baselines), target=torch.tensor([0, 2, 1]))


@pytest.mark.parametrize("arity", [1, 2, 3])
def test_custom_attribution_functions_match_captum(arity):
    functions = {
        1: lambda m: tuple(2 * t for t in m),
        2: lambda m, i: tuple(t * x.abs() for t, x in zip(m, i)),
        3: lambda m, i, b: tuple(t * (x - r) ** 2 for t, x, r in zip(m, i, b)),
    }
    x = torch.randn(3, 4)
    for name, baselines in (("DeepLift", 0.3), ("DeepLiftShap", torch.randn(4, 4))):
        compare(name, _mlp(nn.Sigmoid()), x, delta=True, baselines=baselines, target=1,
                custom_attribution_func=functions[arity])


def test_deeplift_shap_additional_arguments_and_tuple_inputs_match_captum():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(5)
            self.a, self.b, self.relu = nn.Linear(3, 4), nn.Linear(2, 4), nn.ReLU()
            self.head = nn.Linear(4, 3)

        def forward(self, x, y, scale, bias):
            return self.head(self.relu(self.a(x) * scale + self.b(y))) + bias

    inputs = (torch.randn(3, 3), torch.randn(3, 2))
    distribution = (torch.randn(4, 3), torch.randn(4, 2))
    args = (torch.rand(3, 1) + 0.5, 2.0)
    compare("DeepLiftShap", TwoInputs(), inputs, delta=True, baselines=distribution,
            target=[(0,), (2,), (1,)], additional_forward_args=args)
    compare("DeepLift", TwoInputs(), inputs, delta=True, baselines=(0.1, torch.zeros(1, 2)),
            target=2, additional_forward_args=args)
