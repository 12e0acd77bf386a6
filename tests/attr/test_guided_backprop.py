"""GuidedBackprop and Deconvolution: captum parity, the ReLU rules by hand, hook hygiene."""

import warnings

import captum.attr as captum_attr
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import insight_widget.attr as ours_attr
from insight_widget.attr import Deconvolution, GuidedBackprop, Saliency
from insight_widget.attr._utils.relu_overrides import relu_gradient_override

from .captum_oracle import assert_same
from .real_models import scenario_params

METHODS = ["GuidedBackprop", "Deconvolution"]


def compare(name, model, inputs, **kwargs):
    ours = getattr(ours_attr, name)(model).attribute(inputs, **kwargs)
    theirs = getattr(captum_attr, name)(model).attribute(inputs, **kwargs)
    assert_same(ours, theirs)
    return ours


@pytest.mark.parametrize("scenario", scenario_params())
@pytest.mark.parametrize("name", METHODS)
def test_matches_captum_on_real_models(scenario, name):
    compare(name, scenario.model, scenario.inputs, **scenario.call())


class TwoReLUs(nn.Module):
    def __init__(self, relu=nn.ReLU, functional_second=False, reuse=False):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, 6), nn.Linear(6, 5), nn.Linear(5, 3)
        self.relu1 = relu()
        self.relu2 = self.relu1 if reuse else relu()
        self.functional_second = functional_second

    def forward(self, x):
        hidden = self.fc2(self.relu1(self.fc1(x)))
        hidden = F.relu(hidden) if self.functional_second else self.relu2(hidden)
        return self.fc3(hidden)


def by_hand(model, x, target, rule):
    """The override re-derived: backpropagate through the two linear maps explicitly."""
    with torch.no_grad():
        z1 = model.fc1(x)
        z2 = model.fc2(torch.relu(z1))
        grad = model.fc3.weight[target].expand(x.shape[0], -1)
        for z, layer in ((z2, model.fc2), (z1, model.fc1)):
            grad = grad.clamp(min=0) * (z > 0) if rule == "guided" else grad.clamp(min=0)
            grad = grad @ layer.weight
    return grad


@pytest.mark.parametrize(("cls", "rule"), [(GuidedBackprop, "guided"),
                                           (Deconvolution, "deconvolution")])
def test_relu_override_equals_the_rule_applied_by_hand(cls, rule):
    model = TwoReLUs()
    x = torch.randn(5, 4)
    torch.testing.assert_close(cls(model).attribute(x, target=2), by_hand(model, x, 2, rule))


@pytest.mark.parametrize("cls", [GuidedBackprop, Deconvolution])
def test_network_without_relus_gives_the_signed_gradient(cls):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))
    x = torch.randn(3, 4)
    torch.testing.assert_close(cls(model).attribute(x, target=1),
                               Saliency(model).attribute(x, target=1, abs=False))


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("variant", ["subclass", "inplace", "functional"])
def test_relu_variants_match_captum(name, variant):
    class ReLUSubclass(nn.ReLU):
        pass

    model = {"subclass": TwoReLUs(ReLUSubclass),
             "inplace": TwoReLUs(lambda: nn.ReLU(inplace=True)),
             "functional": TwoReLUs(functional_second=True)}[variant]
    compare(name, model, torch.randn(4, 4), target=[0, 1, 2, 0])
    if variant == "inplace":
        assert model.relu1.inplace and model.relu2.inplace


@pytest.mark.parametrize("name", METHODS)
def test_reused_relu_is_reported_by_name_and_matches_captum(name):
    x = torch.randn(4, 4)
    with pytest.warns(RuntimeWarning, match=r"\['relu1'\]"):
        reused = compare(name, TwoReLUs(reuse=True), x, target=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        separate = getattr(ours_attr, name)(TwoReLUs()).attribute(x, target=1)
    torch.testing.assert_close(reused, separate)


class Failing(TwoReLUs):
    fail = False

    def forward(self, x):
        if self.fail:
            self.relu1(x[:, :0])
            raise RuntimeError("injected failure")
        return super().forward(x)


@pytest.mark.parametrize("cls", [GuidedBackprop, Deconvolution])
def test_error_mid_forward_leaves_no_hooks_and_unchanged_outputs(cls):
    model = Failing(lambda: nn.ReLU(inplace=True))
    x = torch.randn(3, 4)
    with torch.no_grad():
        before = model(x)
    model.fail = True
    with pytest.raises(RuntimeError, match="injected failure"):
        cls(model).attribute(x, target=0)
    model.fail = False
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert model.relu1.inplace is True
    with torch.no_grad():
        torch.testing.assert_close(model(x), before)


def test_override_context_rejects_unknown_rules():
    with pytest.raises(ValueError, match="`rule` must be one of"), relu_gradient_override(
            TwoReLUs(), "leaky", "Test"):
        pass


@pytest.mark.parametrize("cls", [GuidedBackprop, Deconvolution])
def test_non_module_model_is_rejected(cls):
    with pytest.raises(TypeError, match=r"`model` must be a torch\.nn\.Module"):
        cls(lambda x: x.sum(1))
