"""Bad input to layer and neuron methods: clear errors naming the argument, and the model
left exactly as it was (no hooks, same outputs) after every error."""

import pytest
import torch
from torch import nn

import insight_widget.attr as ours_attr


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.relu = nn.ReLU()
        self.unused = nn.Linear(4, 4)
        self.fc = nn.Linear(12, 2)

    def forward(self, x: torch.Tensor, fail: bool = False) -> torch.Tensor:
        h = self.relu(self.conv(x))
        if fail:
            raise RuntimeError("model failure")
        return self.fc(h.flatten(1))


def net():
    torch.manual_seed(0)
    return Net()


INPUTS = torch.randn(2, 1, 4, 4)
# (class, extra attribute() arguments) for every layer method
LAYER_METHODS = [
    ("LayerActivation", {}),
    ("LayerGradientXActivation", {"target": 0}),
    ("LayerGradCam", {"target": 0}),
    ("InternalInfluence", {"target": 0, "n_steps": 2}),
    ("LayerConductance", {"target": 0, "n_steps": 2}),
    ("LayerIntegratedGradients", {"target": 0, "n_steps": 2}),
    ("LayerFeatureAblation", {"target": 0}),
    ("LayerFeaturePermutation", {"target": 0}),
    ("LayerDeepLift", {"target": 0}),
    ("LayerDeepLiftShap", {"target": 0, "baselines": torch.zeros(2, 1, 4, 4)}),
    ("LayerGradientShap", {"target": 0, "baselines": torch.zeros(2, 1, 4, 4)}),
    ("LayerLRP", {"target": 0}),
    ("GuidedGradCam", {"target": 0}),
]
NEURON_METHODS = [
    ("NeuronGradient", {}),
    ("NeuronIntegratedGradients", {"n_steps": 2}),
    ("NeuronConductance", {"target": 0, "n_steps": 2}),
    ("NeuronFeatureAblation", {}),
    ("NeuronDeepLift", {}),
    ("NeuronDeepLiftShap", {"baselines": torch.zeros(2, 1, 4, 4)}),
    ("NeuronGradientShap", {"baselines": torch.zeros(2, 1, 4, 4)}),
    ("NeuronGuidedBackprop", {}),
    ("NeuronDeconvolution", {}),
]
ALL = [pytest.param(name, kwargs, False, id=name) for name, kwargs in LAYER_METHODS] + [
    pytest.param(name, kwargs, True, id=name) for name, kwargs in NEURON_METHODS]


def hooks_of(model):
    return [h for m in model.modules() for h in (m._forward_hooks, m._forward_pre_hooks,
                                                 m._backward_hooks, m._backward_pre_hooks) if h]


def run(name, model, layer, kwargs, neuron, **extra):
    algorithm = getattr(ours_attr, name)(model, layer)
    if neuron:
        extra.setdefault("neuron_selector", (0, 0, 0))
    return algorithm.attribute(INPUTS, **kwargs, **extra)


def assert_untouched(model, reference_output):
    assert not hooks_of(model)
    assert torch.equal(model(INPUTS), reference_output)


@pytest.mark.parametrize(("name", "kwargs", "neuron"), ALL)
def test_a_layer_outside_the_model_is_named_in_a_value_error(name, kwargs, neuron):
    model = net()
    reference = model(INPUTS)
    with pytest.raises(ValueError, match="`layer` Conv2d is not part of the model"):
        run(name, model, nn.Conv2d(1, 3, 3), kwargs, neuron)
    assert_untouched(model, reference)


@pytest.mark.parametrize(("name", "kwargs", "neuron"), ALL)
def test_a_layer_that_never_runs_is_named_in_a_value_error(name, kwargs, neuron):
    model = net()
    reference = model(INPUTS)
    with pytest.raises(ValueError, match=r"'unused'.* did not run"):
        run(name, model, model.unused, kwargs, neuron, **({"neuron_selector": 0}
                                                          if neuron else {}))
    assert_untouched(model, reference)


@pytest.mark.parametrize(("name", "kwargs", "neuron"), ALL)
def test_hooks_are_removed_when_the_model_raises(name, kwargs, neuron):
    model = net()
    reference = model(INPUTS)
    with pytest.raises(RuntimeError, match="model failure"):
        run(name, model, model.conv, kwargs, neuron, additional_forward_args=(True,))
    assert_untouched(model, reference)


@pytest.mark.parametrize(("name", "kwargs"), NEURON_METHODS)
@pytest.mark.parametrize(("selector", "error", "message"), [
    ((3, 0, 0), ValueError, r"index 3 is out of range for dimension 1 of 'conv' "
                            r"\(per-example shape \(3, 2, 2\), valid -3..2\)"),
    ((0, 0, -3), ValueError, "index -3 is out of range for dimension 3"),
    ((0, 0, 0, 0), ValueError, r"has 4 indices but 'conv' has per-example shape \(3, 2, 2\)"),
    ((1,), ValueError, r"leaves a block of shape \(2, 2\).*use slices"),
    ("0", TypeError, "`neuron_selector` must be an int, a tuple"),
    ((0.5, 0, 0), TypeError, "entries must be ints or slices"),
    (None, TypeError, "`neuron_selector` must be"),
    (lambda out: out[:, 0], ValueError,
     r"must return one value per example.*got shape \(\d+, 2, 2\)"),
    (lambda out: 1.0, TypeError, "must return a torch.Tensor"),
])
def test_bad_neuron_selectors_raise_and_leave_no_hooks(name, kwargs, selector, error, message):
    model = net()
    reference = model(INPUTS)
    with pytest.raises(error, match=message):
        run(name, model, model.conv, kwargs, True, neuron_selector=selector)
    assert_untouched(model, reference)


def test_index_selectors_on_a_layer_with_several_tensors_ask_for_a_callable():
    class Pair(nn.Module):
        def forward(self, a, b):
            return a.relu(), b.relu()

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pair = Pair()

        def forward(self, x):
            a, b = self.pair(x, 2 * x)
            return (a + b).sum(1)

    model = Model()
    inputs = torch.randn(3, 4)
    with pytest.raises(ValueError, match="indexes one tensor but 'pair' has 2 tensors"):
        ours_attr.NeuronGradient(model, model.pair).attribute(inputs, neuron_selector=1)
    grads = ours_attr.NeuronGradient(model, model.pair).attribute(
        inputs, neuron_selector=lambda out: out[0][:, 1] + out[1][:, 1])
    expected = torch.zeros(3, 4)
    expected[:, 1] = (inputs[:, 1] > 0).float() * 3
    assert torch.equal(grads, expected)


def test_argument_types_are_checked():
    model = net()
    with pytest.raises(TypeError, match="`layer`"):
        ours_attr.LayerActivation(model, "conv")
    with pytest.raises(TypeError, match="`layer` of LayerGradCam must be one"):
        ours_attr.LayerGradCam(model, [model.conv, model.fc])
    with pytest.raises(TypeError, match="`attribute_to_layer_input` must be a bool"):
        ours_attr.LayerActivation(model, model.conv).attribute(INPUTS,
                                                               attribute_to_layer_input=1)
    with pytest.raises(TypeError, match="`attribute_to_neuron_input` must be a bool"):
        ours_attr.NeuronGradient(model, model.conv).attribute(
            INPUTS, (0, 0, 0), attribute_to_neuron_input="yes")
    with pytest.raises(TypeError, match="`device_ids` must be a list of ints"):
        ours_attr.LayerActivation(model, model.conv, device_ids="0").attribute(INPUTS)
    with pytest.raises(ValueError, match="`n_steps` must be an int >= 2"):
        ours_attr.NeuronConductance(model, model.conv).attribute(INPUTS, (0, 0, 0), target=0,
                                                                 n_steps=1)
    with pytest.raises(ValueError, match="`method` must be one of"):
        ours_attr.LayerConductance(model, model.conv).attribute(INPUTS, target=0,
                                                                method="simpson")
    with pytest.raises(TypeError, match="`grad_kwargs` must be a dict"):
        ours_attr.LayerGradCam(model, model.conv).attribute(INPUTS, target=0,
                                                            grad_kwargs=[1])
    with pytest.raises(ValueError, match="`target` index 5 is out of range"):
        ours_attr.LayerGradCam(model, model.conv).attribute(INPUTS, target=5)
    assert not hooks_of(model)


def test_a_forward_function_that_bypasses_the_layer_is_reported():
    model = net()
    other = net()
    algorithm = ours_attr.LayerActivation(lambda x: other(x), model.conv)
    with pytest.raises(ValueError, match="'Conv2d' did not run"):
        algorithm.attribute(INPUTS)
    assert not hooks_of(model) and not hooks_of(other)
