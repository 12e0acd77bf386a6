"""LRP: each rule re-derived as a plain matrix product on a single layer (zennit style),
golden values, LRP-0 = Input x Gradient, parity with captum 0.9.0 on a conv net with per-layer
rules, and model state restored after every call (also after errors)."""

import gc
import io
from contextlib import redirect_stdout

import captum.attr as captum_attr
import pytest
import torch
from captum.attr._utils import lrp_rules as captum_rules
from captum.attr._utils.custom_modules import Addition_Module as CaptumAddition
from torch import nn

import insight_widget.attr as ours_attr
from insight_widget.attr import (
    LRP,
    Alpha1_Beta0_Rule,
    EpsilonRule,
    GammaRule,
    IdentityRule,
    InputXGradient,
    LayerLRP,
    PropagationRule,
)
from insight_widget.attr.lrp.rules import Addition_Module

from .captum_oracle import assert_same, assert_same_delta

RULES = {
    "epsilon": (lambda: EpsilonRule(), lambda w: w, False, 1e-9),
    "epsilon-large": (lambda: EpsilonRule(epsilon=0.5), lambda w: w, False, 0.5),
    "gamma": (lambda: GammaRule(), lambda w: w + 0.25 * w.clamp(min=0), False, 1e-9),
    "gamma-no-bias": (lambda: GammaRule(gamma=1.0, set_bias_to_zero=True),
                      lambda w: w + w.clamp(min=0), True, 1e-9),
    "alpha1-beta0": (lambda: Alpha1_Beta0_Rule(), lambda w: w.clamp(min=0), False, 1e-9),
    "alpha1-beta0-no-bias": (lambda: Alpha1_Beta0_Rule(set_bias_to_zero=True),
                             lambda w: w.clamp(min=0), True, 1e-9),
}


def stabilised(z, epsilon):
    return z + epsilon * torch.where(z >= 0, 1.0, -1.0).to(z.dtype)


def dense_relevance(matrix, bias, a, relevance_out, epsilon):
    """R_in = a * M^T (R_out / (M a + b + eps sign)) for a (N, I) and M (O, I)."""
    z = a @ matrix.T + bias
    return a * ((relevance_out / stabilised(z, epsilon)) @ matrix)


@pytest.mark.parametrize("rule", list(RULES))
def test_each_rule_on_a_linear_layer_is_the_matrix_formula(rule):
    make, transform, no_bias, epsilon = RULES[rule]
    torch.manual_seed(0)
    layer = nn.Linear(5, 4).double()
    inputs = torch.randn(3, 5, dtype=torch.float64)
    layer.rule = make()
    result = LRP(nn.Sequential(layer)).attribute(inputs, target=2)
    weight, bias = layer.weight.detach(), layer.bias.detach()
    output = inputs @ weight.T + bias
    relevance_out = torch.zeros_like(output)
    relevance_out[:, 2] = output[:, 2]                  # the original output is explained
    expected = dense_relevance(transform(weight), torch.zeros_like(bias) if no_bias else bias,
                               inputs, relevance_out, epsilon)
    assert torch.allclose(result, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rule", list(RULES))
def test_each_rule_on_a_conv_layer_is_the_matrix_formula_of_its_jacobian(rule):
    make, transform, no_bias, epsilon = RULES[rule]
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 3, 3, padding=1).double()
    inputs = torch.randn(2, 2, 4, 4, dtype=torch.float64)
    conv.rule = make()
    result = LRP(nn.Sequential(conv)).attribute(inputs, target=(1, 2, 0))
    # The convolution as a dense matrix: the Jacobian of the bias-free map (linear in a).
    weight = transform(conv.weight.detach())
    matrix = torch.autograd.functional.jacobian(
        lambda a: nn.functional.conv2d(a.view(1, 2, 4, 4), weight, padding=1).flatten(),
        torch.zeros(32, dtype=torch.float64))
    bias = (torch.zeros(3) if no_bias else conv.bias.detach()).double().repeat_interleave(16)
    flat = inputs.flatten(1)
    output = conv(inputs).detach().flatten(1)
    relevance_out = torch.zeros_like(output)
    index = 1 * 16 + 2 * 4 + 0
    relevance_out[:, index] = output[:, index]
    expected = dense_relevance(matrix, bias, flat, relevance_out, epsilon)
    assert torch.allclose(result.flatten(1), expected, rtol=1e-9, atol=1e-12)


def test_identity_rule_passes_relevance_unchanged():
    torch.manual_seed(2)
    norm = nn.BatchNorm2d(3).eval()
    with torch.no_grad():
        norm.running_mean.uniform_(-1, 1)
        norm.weight.uniform_(0.5, 2.0)
    head = nn.Linear(12, 2)
    flatten = nn.Flatten()
    model = nn.Sequential(norm, flatten, head)
    flatten.rule = IdentityRule()        # Flatten has no default rule; reshaping is allowed
    norm.rule = IdentityRule()
    inputs = torch.randn(2, 3, 2, 2)
    relevance = LayerLRP(model, head).attribute(inputs, target=1, attribute_to_layer_input=True)
    assert torch.allclose(LRP(model).attribute(inputs, target=1).flatten(1), relevance)
    assert torch.allclose(LayerLRP(model, norm).attribute(inputs, target=1).flatten(1),
                          relevance)


def test_two_layer_relevance_is_the_chain_of_matrix_products():
    # The gamma rule on the first layer; the second layer (epsilon) sees the activations of the
    # original model, as in Captum.
    torch.manual_seed(3)
    first, second = nn.Linear(4, 6).double(), nn.Linear(6, 3).double()
    model = nn.Sequential(first, nn.ReLU(), second)
    first.rule = GammaRule(gamma=0.5)
    inputs = torch.randn(5, 4, dtype=torch.float64)
    w1, b1 = first.weight.detach(), first.bias.detach()
    w2, b2 = second.weight.detach(), second.bias.detach()
    hidden = torch.relu(inputs @ w1.T + b1)
    output = hidden @ w2.T + b2
    relevance_out = torch.zeros_like(output)
    relevance_out[:, 0] = output[:, 0]
    relevance_hidden = dense_relevance(w2, b2, hidden, relevance_out, 1e-9)
    expected = dense_relevance(w1 + 0.5 * w1.clamp(min=0), b1, inputs, relevance_hidden, 1e-9)
    assert torch.allclose(LRP(model).attribute(inputs, target=0), expected, atol=1e-12)
    assert torch.allclose(LayerLRP(model, second).attribute(inputs, target=0,
                                                            attribute_to_layer_input=True),
                          relevance_hidden, atol=1e-12)


def simple_lrp_model():
    """Captum's SimpleLRPModel: Linear(3, 3, w=2, no bias) -> ReLU -> Linear(3, 1, w=3, no
    bias) -> Dropout (eval)."""
    first, second = nn.Linear(3, 3, bias=False), nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        first.weight.fill_(2.0)
        second.weight.fill_(3.0)
    return nn.Sequential(first, nn.ReLU(), second, nn.Dropout(0.01)).eval()


def test_simple_lrp_model_golden_values_and_zero_delta():
    model = simple_lrp_model()
    inputs = torch.tensor([[1.0, 2.0, 3.0]])
    relevance, delta = LRP(model).attribute(inputs, return_convergence_delta=True)
    assert torch.allclose(relevance, torch.tensor([[18.0, 36.0, 54.0]]))
    assert relevance.sum().item() == pytest.approx(108.0)
    assert torch.allclose(delta, torch.zeros(1), atol=1e-5)


def test_lrp_zero_equals_input_x_gradient_on_bias_free_relu_nets():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(6, 8, bias=False), nn.ReLU(), nn.Linear(8, 8, bias=False),
                          nn.ReLU(), nn.Linear(8, 3, bias=False)).double()
    for layer in (model[0], model[2], model[4]):
        layer.rule = EpsilonRule(epsilon=0.0)           # LRP-0
    inputs = torch.randn(7, 6, dtype=torch.float64)
    lrp, delta = LRP(model).attribute(inputs, target=1, return_convergence_delta=True)
    ixg = InputXGradient(model).attribute(inputs, target=1)
    assert torch.allclose(lrp, ixg, rtol=1e-10, atol=1e-13)
    # Conservation: no bias and no epsilon, so the relevance sums to the output.
    assert torch.allclose(delta, torch.zeros(7, dtype=torch.float64), atol=1e-12)


class RuleNet(nn.Module):
    """Conv, batch norm, max/average/adaptive pooling, Captum's Addition_Module, Linear,
    Tanh and Dropout: every layer type with a Captum default rule."""

    def __init__(self, addition: type) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.relu2 = nn.ReLU()
        self.avg = nn.AvgPool2d(2)
        self.conv3 = nn.Conv2d(6, 6, 1)
        self.relu3 = nn.ReLU()
        self.add = addition()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 5)
        self.tanh = nn.Tanh()
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu1(self.bn(self.conv1(x))))
        h = self.avg(self.relu2(self.conv2(x)))
        h = self.gap(self.add(h, self.relu3(self.conv3(h)))).view(x.shape[0], -1)
        return self.fc2(self.drop(self.tanh(self.fc(h))))


def rule_net(addition):
    torch.manual_seed(5)
    model = RuleNet(addition).eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.2, 0.2)
        model.bn.running_var.uniform_(0.5, 1.5)
    return model


RULE_SETS = {
    "default": {},
    "gamma": {"conv1": ("GammaRule", {}), "conv2": ("GammaRule", {"gamma": 0.5,
                                                                  "set_bias_to_zero": True}),
              "fc2": ("GammaRule", {})},
    "alpha-beta": {"conv1": ("Alpha1_Beta0_Rule", {}),
                   "fc": ("Alpha1_Beta0_Rule", {"set_bias_to_zero": True})},
    "epsilon": {"conv3": ("EpsilonRule", {"epsilon": 0.1}), "fc2": ("EpsilonRule",
                                                                    {"epsilon": 1.0})},
    "identity": {"bn": ("IdentityRule", {}), "pool": ("EpsilonRule", {"epsilon": 0.01})},
}


def assign(model, rules, library):
    for module in model.modules():
        if "rule" in vars(module):
            del module.rule
    for name, (rule, kwargs) in rules.items():
        getattr(model, name).rule = getattr(library, rule)(**kwargs)


@pytest.mark.parametrize("rules", list(RULE_SETS))
def test_lrp_and_layer_lrp_match_captum_with_per_layer_rules(rules):
    ours_model, captum_model = rule_net(Addition_Module), rule_net(CaptumAddition)
    inputs = torch.randn(3, 3, 12, 12)
    kwargs = dict(target=[0, 1, 2], return_convergence_delta=True)
    assign(ours_model, RULE_SETS[rules], ours_attr)
    mine = LRP(ours_model).attribute(inputs, **kwargs)
    assign(captum_model, RULE_SETS[rules], captum_rules)    # Captum deletes rules after a call
    assert_same_delta(mine, captum_attr.LRP(captum_model).attribute(inputs, **kwargs))
    for name in ("conv1", "add", "gap", "fc2"):
        for to_input in (False, True):
            if name == "add" and to_input:
                continue        # see test_layer_lrp_returns_the_relevance_of_every_input
            assign(captum_model, RULE_SETS[rules], captum_rules)
            theirs = captum_attr.LayerLRP(captum_model, getattr(captum_model, name)).attribute(
                inputs, attribute_to_layer_input=to_input, **kwargs)
            ours = LayerLRP(ours_model, getattr(ours_model, name)).attribute(
                inputs, attribute_to_layer_input=to_input, **kwargs)
            assert_same(ours[0], theirs[0])
            assert_same(ours[1], theirs[1], atol=1e-5)


def test_layer_lrp_returns_the_relevance_of_every_input():
    # Deliberate difference: Captum returns only the inputs whose hook the layer itself
    # registered (here the second summand); we return the relevance of every input tensor.
    model = rule_net(Addition_Module)
    inputs = torch.randn(2, 3, 12, 12)
    first, second = LayerLRP(model, model.add).attribute(inputs, target=1,
                                                          attribute_to_layer_input=True)
    at_output = LayerLRP(model, model.add).attribute(inputs, target=1)
    captum_model = rule_net(CaptumAddition)
    (theirs,) = captum_attr.LayerLRP(captum_model, captum_model.add).attribute(
        inputs, target=1, attribute_to_layer_input=True)
    assert_same(second, theirs)
    # The summand that only feeds the addition: relevance split in proportion to its share.
    h = model.avg(model.relu2(model.conv2(model.pool(model.relu1(model.bn(model.conv1(
        inputs))))))).detach()
    u = model.relu3(model.conv3(h)).detach()
    assert torch.allclose(second, u * at_output / stabilised(h + u, 1e-9), atol=1e-6)
    assert first.shape == h.shape


def test_tanh_passes_relevance_through_even_after_an_eval_dropout():
    # Deliberate difference: Captum applies tanh's derivative when the Tanh directly follows a
    # module returning its input unchanged (Dropout in eval mode); relevance should pass
    # through Tanh whatever precedes it.
    torch.manual_seed(6)
    first, second = nn.Linear(4, 5).double(), nn.Linear(5, 2).double()
    with_dropout = nn.Sequential(first, nn.Dropout(0.3), nn.Tanh(), second).eval()
    without = nn.Sequential(first, nn.Tanh(), second)
    inputs = torch.randn(3, 4, dtype=torch.float64)
    assert torch.allclose(LRP(with_dropout).attribute(inputs, target=0),
                          LRP(without).attribute(inputs, target=0))


def test_unsupported_layers_raise_a_type_error_naming_them():
    model = nn.Sequential(nn.Linear(3, 3), nn.Sigmoid(), nn.Linear(3, 1))
    with pytest.raises(TypeError, match=r"'1' of type Sigmoid"):
        LRP(model).attribute(torch.randn(2, 3))
    model[1].rule = "epsilon"
    with pytest.raises(TypeError, match="must be a PropagationRule"):
        LRP(model)  # at construction, as Captum
    with pytest.raises(TypeError, match="must be a PropagationRule"):
        LayerLRP(model, model[0])
    model[1].rule = EpsilonRule()
    assert LRP(model).attribute(torch.randn(2, 3)).shape == (2, 3)


def test_a_layer_used_twice_is_rejected():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    with pytest.raises(RuntimeError, match="runs more than once"):  # Captum's type
        LRP(model).attribute(torch.randn(2, 3), target=0)
    assert not shared._forward_hooks


def all_hooks(model):
    return [h for m in model.modules() for h in (m._forward_hooks, m._forward_pre_hooks,
                                                 m._backward_hooks, m._backward_pre_hooks) if h]


def test_model_weights_hooks_and_user_rules_are_restored():
    model = rule_net(Addition_Module)
    assign(model, RULE_SETS["gamma"], ours_attr)
    rules = {name: model.get_submodule(name).rule for name in RULE_SETS["gamma"]}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    parameters = [p for p in model.parameters()]
    storages = [p.data.data_ptr() for p in parameters]
    inputs = torch.randn(2, 3, 12, 12)
    before = model(inputs)
    for _ in range(2):
        LRP(model).attribute(inputs, target=1)
        LayerLRP(model, [model.conv2, model.fc]).attribute(inputs, target=1)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert [p.data.data_ptr() for p in model.parameters()] == storages
    assert not all_hooks(model)
    assert {name: model.get_submodule(name).rule for name in RULE_SETS["gamma"]} == rules
    assert torch.equal(model(inputs), before)


def test_model_is_restored_after_an_error_during_the_relevance_pass():
    class Fails(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.fc.rule = GammaRule()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.calls == 2:          # the relevance pass (after the weight pass)
                raise RuntimeError("boom")
            return self.fc(x)

    model = Fails()
    weight = model.fc.weight.detach().clone()
    with pytest.raises(RuntimeError, match="boom"):
        LRP(model).attribute(torch.randn(2, 3), target=0)
    assert torch.equal(model.fc.weight, weight)
    assert not all_hooks(model)


def test_repeated_calls_keep_nothing_alive():
    model = simple_lrp_model()
    rule = EpsilonRule(epsilon=0.01)
    model[0].rule = rule
    inputs = torch.randn(4, 3)
    LRP(model).attribute(inputs)
    gc.collect()
    gc.disable()
    try:
        before = sum(type(o) in (torch.Tensor, nn.Parameter) for o in gc.get_objects())
        for _ in range(10):
            LRP(model).attribute(inputs, return_convergence_delta=True)
            LayerLRP(model, model[2]).attribute(inputs)
        after = sum(type(o) in (torch.Tensor, nn.Parameter) for o in gc.get_objects())
    finally:
        gc.enable()
    assert after <= before
    assert vars(rule) == {"epsilon": 0.01}


def test_verbose_prints_the_rule_of_each_layer():
    model = simple_lrp_model()
    model[2].rule = GammaRule()
    out = io.StringIO()
    with redirect_stdout(out):
        LRP(model).attribute(torch.randn(2, 3), verbose=True)
    lines = out.getvalue().splitlines()
    assert lines == [f"Applied EpsilonRule(epsilon=1e-09) on layer {model[0]}",
                     f"Applied GammaRule(gamma=0.25, set_bias_to_zero=False) on layer {model[2]}"]


def test_custom_rules_subclass_propagation_rule():
    class Halve(PropagationRule):
        def _manipulate_weights(self, module, inputs, outputs):
            module.weight.data = module.weight.data * 0.5

    layer = nn.Linear(3, 2, bias=False)
    layer.rule = Halve()
    inputs = torch.randn(4, 3)
    # Halving the weights halves z' and its Jacobian alike: LRP-0's numbers.
    plain = nn.Linear(3, 2, bias=False)
    plain.load_state_dict(layer.state_dict())
    assert torch.allclose(LRP(nn.Sequential(layer)).attribute(inputs, target=1),
                          LRP(nn.Sequential(plain)).attribute(inputs, target=1), atol=1e-6)
    with pytest.raises(TypeError):
        PropagationRule()


def test_lrp_on_a_model_wrapped_in_data_parallel():
    # On CPU DataParallel calls the module directly; the rules of the inner layers apply.
    model = simple_lrp_model()
    model[0].rule = GammaRule()
    inputs = torch.randn(3, 3)
    wrapped = nn.DataParallel(model)
    mine = LRP(wrapped).attribute(inputs, return_convergence_delta=True)
    assert_same_delta(mine, LRP(model).attribute(inputs, return_convergence_delta=True))
    theirs_model = simple_lrp_model()
    theirs_model[0].rule = captum_rules.GammaRule()
    assert_same_delta(mine, captum_attr.LRP(nn.DataParallel(theirs_model)).attribute(
        inputs, return_convergence_delta=True))
    assert_same(LayerLRP(wrapped, model[2]).attribute(inputs),
                LayerLRP(model, model[2]).attribute(inputs))
