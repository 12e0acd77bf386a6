"""Neuron methods on real architectures and Captum's README example, compared with
captum 0.9.0 (rtol 1e-5, atol 1e-6), for every form of ``neuron_selector``."""

import captum.attr as captum_attr
import pytest
import torch
from torch import nn

import insight_widget.attr as ours_attr
from insight_widget.testing import (
    ResidualConvNet,
    TabularMLP,
    image_batch,
    seeded,
    tabular_batch,
)

from .captum_oracle import assert_same

CONV = seeded(ResidualConvNet, seed=3, width=4)
IMAGES = image_batch(2, size=8, seed=1)
MLP = seeded(TabularMLP, seed=6)
ROWS = tabular_batch(4, seed=3)

CONV_SELECTORS = {
    "int-tuple": (1, 1, 1),
    "negative-index": (-1, 0, -2),
    "slices-summed": (slice(0, 2), 1, slice(None, None, 2)),
    "callable": lambda out: out[:, 0, 0:2, 1].sum(1),
}


class ToyModel(nn.Module):
    """The ToyModel of Captum's README: Linear(3, 3) -> ReLU -> Linear(3, 2), fixed weights."""

    def __init__(self) -> None:
        super().__init__()
        self.lin1 = nn.Linear(3, 3)
        self.relu = nn.ReLU()
        self.lin2 = nn.Linear(3, 2)
        with torch.no_grad():
            self.lin1.weight.copy_(torch.arange(-4.0, 5.0).view(3, 3))
            self.lin1.bias.zero_()
            self.lin2.weight.copy_(torch.arange(-3.0, 3.0).view(2, 3))
            self.lin2.bias.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.relu(self.lin1(x)))


def both(name, model, layer, **construct):
    return (getattr(ours_attr, name)(model, layer, **construct),
            getattr(captum_attr, name)(model, layer, **construct))


def compare(name, model, layer, inputs, construct=None, **kwargs):
    ours, theirs = both(name, model, layer, **(construct or {}))
    mine = ours.attribute(inputs, **kwargs)
    assert_same(mine, theirs.attribute(inputs, **kwargs))
    return mine


def test_readme_neuron_conductance_example():
    model = ToyModel().eval()
    torch.manual_seed(123)
    inputs = torch.rand(2, 3)
    result = ours_attr.NeuronConductance(model, model.lin1).attribute(
        inputs, neuron_selector=1, target=0)
    expected = torch.tensor([[0.0, 0.0, 0.0], [1.3358, 0.0, -1.6811]])
    assert torch.allclose(result, expected, atol=1e-4)
    reference = captum_attr.NeuronConductance(model, model.lin1).attribute(
        inputs, neuron_selector=1, target=0)
    assert_same(result, reference)


@pytest.mark.parametrize("selector", list(CONV_SELECTORS.values()), ids=list(CONV_SELECTORS))
@pytest.mark.parametrize("layer", ["block1.conv1", "block2"])
def test_neuron_gradient_methods_match_captum_on_conv_net(selector, layer):
    layer_ = dict(CONV.named_modules())[layer]
    for to_input in (False, True):
        kw = dict(neuron_selector=selector, attribute_to_neuron_input=to_input)
        compare("NeuronGradient", CONV, layer_, IMAGES, **kw)
        compare("NeuronIntegratedGradients", CONV, layer_, IMAGES, n_steps=4, baselines=0.2,
                **kw)
        compare("NeuronConductance", CONV, layer_, IMAGES, n_steps=4, target=[3, 7], **kw)


@pytest.mark.parametrize(("method", "internal_batch_size"), [
    ("gausslegendre", None), ("riemann_left", 3), ("riemann_trapezoid", 10)])
def test_neuron_path_methods_chunked_match_captum(method, internal_batch_size):
    common = dict(neuron_selector=5, n_steps=6, method=method,
                  internal_batch_size=internal_batch_size, baselines=ROWS.mean(0, keepdim=True))
    compare("NeuronIntegratedGradients", MLP, MLP.relu1, ROWS, **common)
    compare("NeuronIntegratedGradients", MLP, MLP.relu1, ROWS,
            construct={"multiply_by_inputs": False}, **common)
    compare("NeuronConductance", MLP, MLP.fc2, ROWS, target=(1,), **common)
    compare("NeuronConductance", MLP, MLP.fc2, ROWS, target=1,
            construct={"multiply_by_inputs": False}, **common)


def test_neuron_methods_default_to_captums_quadrature():
    model = ToyModel()
    inputs = torch.rand(3, 3)
    # NeuronConductance integrates with riemann_trapezoid by default, the others with
    # gausslegendre: the defaults must give the explicitly requested rule's numbers.
    conductance = ours_attr.NeuronConductance(model, model.lin1)
    assert torch.equal(conductance.attribute(inputs, 2, target=1),
                       conductance.attribute(inputs, 2, target=1, method="riemann_trapezoid"))
    neuron_ig = ours_attr.NeuronIntegratedGradients(model, model.lin1)
    assert torch.equal(neuron_ig.attribute(inputs, 2),
                       neuron_ig.attribute(inputs, 2, method="gausslegendre"))


def test_neuron_conductance_sums_to_the_neurons_layer_conductance():
    # Conductance decomposes the neuron's conductance over the inputs (same path, same rule).
    model = ToyModel()
    inputs = torch.rand(4, 3) + 0.5
    layer = ours_attr.LayerConductance(model, model.lin1).attribute(
        inputs, target=0, n_steps=400, method="riemann_middle")
    for neuron in range(3):
        per_input = ours_attr.NeuronConductance(model, model.lin1).attribute(
            inputs, neuron_selector=neuron, target=0, n_steps=400, method="riemann_middle")
        assert torch.allclose(per_input.sum(1), layer[:, neuron], rtol=1e-2, atol=1e-2)


def test_neuron_integrated_gradients_is_complete_for_the_neuron():
    model = ToyModel()
    inputs = torch.rand(4, 3)
    result = ours_attr.NeuronIntegratedGradients(model, model.lin2).attribute(
        inputs, neuron_selector=1, n_steps=300)
    change = model(inputs)[:, 1] - model(torch.zeros_like(inputs))[:, 1]
    assert torch.allclose(result.sum(1), change.detach(), atol=1e-2)


def test_neuron_methods_on_a_model_wrapped_in_data_parallel():
    # Without GPUs DataParallel calls the module directly; the hooks on the inner layer fire.
    wrapped = nn.DataParallel(CONV)
    for name, kwargs in [("NeuronGradient", {}), ("NeuronConductance", {"target": 2,
                                                                        "n_steps": 3}),
                         ("NeuronDeepLift", {}), ("NeuronGuidedBackprop", {})]:
        mine = getattr(ours_attr, name)(wrapped, CONV.block2).attribute(
            IMAGES, neuron_selector=(1, 0, 0), **kwargs)
        plain = getattr(ours_attr, name)(CONV, CONV.block2).attribute(
            IMAGES, neuron_selector=(1, 0, 0), **kwargs)
        reference = getattr(captum_attr, name)(wrapped, CONV.block2).attribute(
            IMAGES, neuron_selector=(1, 0, 0), **kwargs)
        assert_same(mine, reference)
        assert_same(mine, plain)
