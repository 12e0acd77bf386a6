"""DeepLift and DeepLiftShap: rules re-derived by hand, golden values, properties, safety."""

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from insight_widget.attr import (
    DeepLift,
    DeepLiftShap,
    InputXGradient,
    IntegratedGradients,
    Saliency,
)
from insight_widget.attr._utils.deeplift_rules import deeplift_rules
from insight_widget.attr._utils.forward import input_gradients
from insight_widget.attr._utils.target import format_target

ACTIVATIONS = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
}


def one_hidden_layer(activation, inputs=3, hidden=5, seed=0, bias=True):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(inputs, hidden, bias=bias), activation(),
                         nn.Linear(hidden, 1, bias=bias)).double()


class ReLUDeepLiftModel(nn.Module):
    """f(x1, x2) = 2 relu(x1) + 2 relu(x2 - 1.5) (Captum's golden-value model)."""

    def __init__(self):
        super().__init__()
        self.relu1 = nn.ReLU()
        self.relu2 = nn.ReLU()

    def forward(self, x1, x2):
        return 2 * self.relu1(x1) + 2 * self.relu2(x2 - 1.5)


class ReusedReLU(nn.Module):
    def __init__(self, separate=False):
        super().__init__()
        torch.manual_seed(3)
        self.fc1, self.fc2, self.fc3 = nn.Linear(3, 4), nn.Linear(4, 4), nn.Linear(4, 2)
        self.relu = nn.ReLU()
        self.relu_b = nn.ReLU() if separate else self.relu

    def forward(self, x):
        return self.fc3(self.relu_b(self.fc2(self.relu(self.fc1(x)))))


def multipliers_with(model, x, baseline, exact_chaining, target=0, eps=1e-10):
    """DeepLift multipliers computed directly with the shared rule context manager."""
    with deeplift_rules(model, eps=eps, exact_chaining=exact_chaining):
        grads, _ = input_gradients(model, (x,), format_target(target).repeat(2),
                                   reference_rows=(baseline,))
    return grads[0]


# ---- golden values (Captum's tests) ------------------------------------------------------


def test_relu_deeplift_golden_values_and_zero_delta():
    x = (torch.tensor([[1.0]]), torch.tensor([[2.0]]))
    attributions, delta = DeepLift(ReLUDeepLiftModel()).attribute(
        x, baselines=(0.0, 0.0), return_convergence_delta=True)
    assert [a.item() for a in attributions] == pytest.approx([2.0, 1.0])
    assert delta.abs().max().item() < 1e-6


def test_relu_deeplift_local_golden_values():
    x = (torch.tensor([[1.0]]), torch.tensor([[2.0]]))
    attributions = DeepLift(ReLUDeepLiftModel(), multiply_by_inputs=False).attribute(x)
    assert [a.item() for a in attributions] == pytest.approx([2.0, 0.5])


# ---- rules re-derived as plain tensor algebra ---------------------------------------------


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_rescale_rule_equals_difference_quotient_chain(name):
    model = one_hidden_layer(ACTIVATIONS[name])
    first, act, last = model
    x = torch.randn(4, 3, dtype=torch.float64)
    baseline = torch.randn(4, 3, dtype=torch.float64)
    with torch.no_grad():
        z, z_ref = first(x), first(baseline)
        multiplier = (act(z) - act(z_ref)) / (z - z_ref)
        expected = (multiplier * last.weight) @ first.weight * (x - baseline)
    got = DeepLift(model).attribute(x, baseline)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_rescale_rule_keeps_the_ordinary_derivative_where_inputs_barely_differ():
    model = one_hidden_layer(nn.Sigmoid, inputs=2, hidden=3)
    first, act, last = model
    with torch.no_grad():
        first.weight[0] = torch.tensor([0.0, 1.0])  # neuron 0 ignores feature 0
    x = torch.tensor([[0.7, 0.3]], dtype=torch.float64)
    baseline = torch.tensor([[-0.4, 0.3]], dtype=torch.float64)  # only feature 0 differs
    multipliers = DeepLift(model, multiply_by_inputs=False).attribute(x, baseline)
    with torch.no_grad():
        z, z_ref = first(x), first(baseline)
        slope = (act(z) - act(z_ref)) / (z - z_ref)
        derivative = act(z) * (1 - act(z))
        slope[0, 0] = derivative[0, 0]  # dz = 0 exactly: the ordinary gradient is kept
        expected = (slope * last.weight) @ first.weight
    torch.testing.assert_close(multipliers, expected, rtol=1e-10, atol=1e-12)


def test_huge_eps_gives_the_plain_gradient():
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5), nn.ReLU(),
                          nn.Linear(5, 2)).double()
    x = torch.randn(3, 4, dtype=torch.float64)
    multipliers = DeepLift(model, multiply_by_inputs=False, eps=1e9).attribute(
        x, torch.randn(3, 4, dtype=torch.float64), target=1)
    gradient = Saliency(model).attribute(x, target=1, abs=False)
    torch.testing.assert_close(multipliers, gradient)


def _maxpool_by_loops(x, baseline, weight, kernel):
    """DeepLift multipliers of sum(weight * maxpool1d(.)) by explicit window loops."""
    multipliers = torch.zeros_like(x)
    n, channels, length = x.shape
    for i in range(n):
        for c in range(channels):
            for w in range(length // kernel):
                window = slice(w * kernel, (w + 1) * kernel)
                xs, bs = x[i, c, window], baseline[i, c, window]
                y, y_ref = xs.max(), bs.max()
                top = max(y, y_ref)
                g = weight[c, w]
                numerator = torch.zeros(kernel, dtype=x.dtype)
                numerator[int(xs.argmax())] += g * (top - y_ref)
                numerator[int(bs.argmax())] += g * (y - top)
                multipliers[i, c, window] = numerator / (xs - bs)
    return multipliers


def test_maxpool_rule_matches_an_explicit_window_loop():
    torch.manual_seed(1)
    x = torch.randn(3, 2, 8, dtype=torch.float64)
    baseline = torch.randn(3, 2, 8, dtype=torch.float64)
    weight = torch.randn(2, 4, dtype=torch.float64)

    class PoolThenWeights(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.MaxPool1d(2)

        def forward(self, inputs):
            return (self.pool(inputs) * weight).sum((1, 2))

    got = DeepLift(PoolThenWeights(), multiply_by_inputs=False).attribute(x, baseline)
    torch.testing.assert_close(got, _maxpool_by_loops(x, baseline, weight, 2))


def test_maxpool_golden_example_is_complete():
    class Pool(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.MaxPool1d(2)

        def forward(self, inputs):
            return (self.pool(inputs).squeeze(1) * torch.tensor([2.0, -3.0])).sum(1)

    x = torch.tensor([[[1.0, 3.0, 0.5, 2.0]]])
    baseline = torch.tensor([[[4.0, 0.0, 1.0, -1.0]]])
    attributions, delta = DeepLift(Pool()).attribute(x, baseline, return_convergence_delta=True)
    torch.testing.assert_close(attributions, torch.tensor([[[-2.0, 0.0, 0.0, -3.0]]]))
    assert abs(delta.item()) < 1e-6


def test_softmax_rule_subtracts_the_mean_over_the_whole_stacked_batch():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=1), nn.Linear(4, 2)).double()
    first, softmax, last = model
    x = torch.randn(3, 3, dtype=torch.float64)
    baseline = torch.randn(3, 3, dtype=torch.float64)
    target = [0, 1, 1]
    got = DeepLift(model, multiply_by_inputs=False).attribute(x, baseline, target=target)
    with torch.no_grad():
        z, z_ref = first(x), first(baseline)
        slope = (softmax(z) - softmax(z_ref)) / (z - z_ref)
        rows = last.weight[torch.tensor(target + target)] * torch.cat([slope, slope])
        normalised = rows - rows.mean()
        expected = normalised[:3] @ first.weight
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


# ---- how rules chain: Captum's numbers vs exact chaining ---------------------------------


class TanhThenSigmoid(nn.Module):
    def __init__(self, clone=False):
        super().__init__()
        torch.manual_seed(4)
        self.fc1, self.tanh, self.sigmoid, self.fc2 = (nn.Linear(3, 4), nn.Tanh(), nn.Sigmoid(),
                                                      nn.Linear(4, 2))
        self.clone = clone

    def forward(self, x):
        hidden = self.tanh(self.fc1(x))
        return self.fc2(self.sigmoid(hidden.clone() if self.clone else hidden))


class SkipAroundReLU(nn.Module):
    def __init__(self, clone=False):
        super().__init__()
        torch.manual_seed(5)
        self.fc1, self.relu, self.fc2 = nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)
        self.clone = clone

    def forward(self, x):
        hidden = self.fc1(x)
        return self.fc2(self.relu(hidden.clone() if self.clone else hidden) + hidden)


@pytest.mark.parametrize("architecture", [TanhThenSigmoid, SkipAroundReLU])
def test_exact_chaining_is_complete_where_captums_convention_is_not(architecture):
    model = architecture()
    x, baseline = torch.randn(4, 3), torch.randn(4, 3)
    with torch.no_grad():
        difference = (model(x) - model(baseline))[:, 0]
    for exact in (False, True):
        multipliers = multipliers_with(model, x, baseline, exact)
        total = (multipliers * (x - baseline)).sum(1)
        error = (total - difference).abs().max().item()
        assert (error < 1e-5) if exact else (error > 1e-3)


@pytest.mark.parametrize("architecture", [TanhThenSigmoid, SkipAroundReLU])
def test_exact_chaining_equals_captums_convention_once_the_tensor_is_not_shared(architecture):
    x, baseline = torch.randn(4, 3), torch.randn(4, 3)
    exact = multipliers_with(architecture(), x, baseline, True)
    unshared = multipliers_with(architecture(clone=True), x, baseline, False)
    torch.testing.assert_close(exact, unshared)


@pytest.mark.parametrize("eps", [1e-10, 0.3])
def test_exact_chaining_equals_default_without_shared_tensors(eps):
    """Pooling, softmax and rescale rules, including where |dx| < eps keeps the ordinary
    gradient (eps=0.3 makes many positions fall back)."""
    torch.manual_seed(6)
    model = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.ELU(), nn.Conv1d(3, 3, 1),
                          nn.MaxPool1d(2), nn.Flatten(), nn.Linear(12, 5), nn.Softmax(1),
                          nn.Linear(5, 3))
    x = torch.randn(3, 2, 8)
    baseline = x + 0.3 * torch.randn(3, 2, 8)
    torch.testing.assert_close(multipliers_with(model, x, baseline, True, eps=eps),
                               multipliers_with(model, x, baseline, False, eps=eps))


# ---- properties -----------------------------------------------------------------------------


def _random_mlp(seed, widths, activations):
    torch.manual_seed(seed)
    layers = []
    for (a, b), activation in zip(zip(widths[:-1], widths[1:]), activations):
        layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
    layers.append(nn.Linear(widths[-1], 1))
    return nn.Sequential(*layers).double()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000),
       activations=st.lists(st.sampled_from(sorted(ACTIVATIONS)), min_size=1, max_size=3),
       examples=st.integers(1, 4))
def test_deeplift_is_complete_on_linear_and_activation_stacks(seed, activations, examples):
    widths = [3] + [5] * len(activations)
    model = _random_mlp(seed, widths, activations)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(examples, 3, generator=generator, dtype=torch.float64)
    baseline = torch.randn(examples, 3, generator=generator, dtype=torch.float64)
    attributions, delta = DeepLift(model).attribute(x, baseline, return_convergence_delta=True)
    with torch.no_grad():
        difference = (model(x) - model(baseline)).squeeze(1)
    assert delta.abs().max().item() < 1e-9
    torch.testing.assert_close(attributions.sum(1), difference)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_deeplift_equals_integrated_gradients_for_one_nonlinear_layer(name):
    model = one_hidden_layer(ACTIVATIONS[name], seed=7)
    x = torch.randn(3, 3, dtype=torch.float64)
    baseline = torch.randn(3, 3, dtype=torch.float64)
    deeplift = DeepLift(model).attribute(x, baseline)
    if name in ("relu", "leaky_relu", "elu"):
        # The integrand jumps at a ReLU's kink (any rule converges at O(1/n_steps)); ELU's
        # derivative has a kink (the midpoint rule converges at O(1/n_steps^2)).
        integrated = IntegratedGradients(model).attribute(x, baseline, n_steps=4000,
                                                          method="riemann_middle")
        torch.testing.assert_close(deeplift, integrated, rtol=0,
                                   atol=1e-6 if name == "elu" else 2e-4)
    else:
        integrated = IntegratedGradients(model).attribute(x, baseline, n_steps=64)
        torch.testing.assert_close(deeplift, integrated, rtol=1e-9, atol=1e-12)


def test_deeplift_equals_input_x_gradient_for_zero_baseline_on_bias_free_relu_net():
    torch.manual_seed(8)
    model = nn.Sequential(nn.Linear(4, 6, bias=False), nn.ReLU(), nn.Linear(6, 5, bias=False),
                          nn.ReLU(), nn.Linear(5, 2, bias=False))
    x = torch.randn(5, 4)
    torch.testing.assert_close(DeepLift(model).attribute(x, target=1),
                               InputXGradient(model).attribute(x, target=1))


def test_deeplift_equals_integrated_gradients_equals_weight_times_difference_on_linear_model():
    torch.manual_seed(9)
    model = nn.Linear(5, 3).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    baseline = torch.randn(4, 5, dtype=torch.float64)
    expected = model.weight[2].detach() * (x - baseline)
    torch.testing.assert_close(DeepLift(model).attribute(x, baseline, target=2), expected)
    torch.testing.assert_close(IntegratedGradients(model).attribute(x, baseline, target=2),
                               expected)


def test_deeplift_shap_sums_to_output_minus_mean_reference_output():
    model = _random_mlp(10, [3, 6, 4], ["relu", "tanh"])
    x = torch.randn(3, 3, dtype=torch.float64)
    references = torch.randn(5, 3, dtype=torch.float64)
    attributions, delta = DeepLiftShap(model).attribute(x, references,
                                                        return_convergence_delta=True)
    with torch.no_grad():
        expected = model(x).squeeze(1) - model(references).mean()
    torch.testing.assert_close(attributions.sum(1), expected)
    assert delta.shape == (15,) and delta.abs().max().item() < 1e-9


def test_deeplift_shap_is_the_mean_of_deeplift_over_references():
    model = _random_mlp(11, [3, 6], ["sigmoid"])
    x = torch.randn(2, 3, dtype=torch.float64)
    references = torch.randn(3, 3, dtype=torch.float64)
    expected = torch.stack([DeepLift(model).attribute(x, r.expand(2, 3)) for r in references])
    torch.testing.assert_close(DeepLiftShap(model).attribute(x, references), expected.mean(0))


def test_deeplift_shap_accepts_a_callable_distribution():
    model = _random_mlp(12, [3, 4], ["relu"])
    x = torch.randn(2, 3, dtype=torch.float64)
    references = torch.randn(3, 3, dtype=torch.float64)
    explainer = DeepLiftShap(model)
    expected = explainer.attribute(x, references)
    torch.testing.assert_close(explainer.attribute(x, lambda: references), expected)
    torch.testing.assert_close(explainer.attribute(x, lambda inputs: references + 0 * inputs[:1]),
                               expected)


# ---- custom attribution functions -------------------------------------------------------


def test_custom_attribution_function_receives_multipliers_inputs_and_expanded_baselines():
    model = one_hidden_layer(nn.ReLU)
    x = torch.randn(4, 3, dtype=torch.float64)
    baseline = torch.randn(1, 3, dtype=torch.float64)
    seen = {}

    def custom(multipliers, inputs, baselines):
        seen.update(multipliers=multipliers, inputs=inputs, baselines=baselines)
        return tuple(2 * m for m in multipliers)

    got, delta = DeepLift(model).attribute(x, baseline, custom_attribution_func=custom,
                                           return_convergence_delta=True)
    multipliers = DeepLift(model, multiply_by_inputs=False).attribute(x, baseline)
    torch.testing.assert_close(got, 2 * multipliers)
    torch.testing.assert_close(seen["inputs"][0], x)
    assert seen["baselines"][0].shape == x.shape
    with torch.no_grad():
        expected_delta = got.sum(1) - (model(x) - model(baseline)).squeeze(1)
    torch.testing.assert_close(delta, expected_delta)


@pytest.mark.parametrize("arity", [1, 2])
def test_custom_attribution_function_with_fewer_arguments(arity):
    model = one_hidden_layer(nn.Tanh)
    x = torch.randn(2, 3, dtype=torch.float64)
    functions = {1: lambda m: (m[0] * 3,), 2: lambda m, i: (m[0] * i[0],)}
    multipliers = DeepLift(model, multiply_by_inputs=False).attribute(x)
    expected = multipliers * 3 if arity == 1 else multipliers * x
    torch.testing.assert_close(
        DeepLift(model).attribute(x, custom_attribution_func=functions[arity]), expected)


# ---- reuse, NaN, hook hygiene -----------------------------------------------------------


def test_reused_relu_is_reported_by_name_and_handled_per_call():
    x, baseline = torch.randn(3, 3), torch.randn(3, 3)
    with pytest.warns(RuntimeWarning, match=r"\['relu'\]"):
        reused = DeepLift(ReusedReLU()).attribute(x, baseline, target=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        separate = DeepLift(ReusedReLU(separate=True)).attribute(x, baseline, target=1)
    torch.testing.assert_close(reused, separate)


def test_inplace_relu_gives_the_same_attributions_and_keeps_its_flag():
    torch.manual_seed(13)
    plain = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    inplace = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 1))
    inplace.load_state_dict(plain.state_dict())
    x, baseline = torch.randn(3, 3), torch.randn(3, 3)
    torch.testing.assert_close(DeepLift(inplace).attribute(x, baseline),
                               DeepLift(plain).attribute(x, baseline))
    assert inplace[1].inplace is True


def test_nan_input_is_reported():
    model = one_hidden_layer(nn.ReLU).float()
    x = torch.randn(2, 3)
    x[0, 1] = float("nan")
    with pytest.warns(RuntimeWarning, match="inputs contains NaN"):
        DeepLift(model).attribute(x)


def test_nan_output_is_reported_with_the_module_that_produced_it():
    class Log(nn.Module):
        def forward(self, x):
            return torch.log(x)

    model = nn.Sequential(nn.Linear(3, 3), Log(), nn.ReLU(), nn.Linear(3, 1))
    with pytest.warns(RuntimeWarning, match="first produced by module '1'"):
        DeepLift(model).attribute(-10 - torch.rand(2, 3) * 0)


class FailingModel(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(14)
        self.fc1, self.relu, self.pool, self.fc2 = (nn.Linear(4, 6), nn.ReLU(inplace=True),
                                                   nn.MaxPool1d(2), nn.Linear(3, 2))
        self.fail = False

    def forward(self, x):
        hidden = self.pool(self.relu(self.fc1(x)).unsqueeze(1)).squeeze(1)
        if self.fail:
            raise RuntimeError("injected failure")
        return self.fc2(hidden)


def _hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in model.modules())


@pytest.mark.parametrize("make", [
    lambda m: DeepLift(m),
    lambda m: DeepLiftShap(m),
])
def test_error_mid_forward_leaves_no_hooks_and_unchanged_outputs(make):
    model = FailingModel()
    x = torch.randn(3, 4)
    with torch.no_grad():
        before = model(x)
    model.fail = True
    arguments = {"baselines": torch.randn(2, 4)} if isinstance(make(model), DeepLiftShap) else {}
    with pytest.raises(RuntimeError, match="injected failure"):
        make(model).attribute(x, target=0, **arguments)
    model.fail = False
    assert _hook_count(model) == 0 and model.relu.inplace is True
    with torch.no_grad():
        torch.testing.assert_close(model(x), before)


def test_error_in_backward_leaves_no_hooks():
    model = FailingModel()
    x = torch.randn(3, 4)

    def broken(multipliers):
        raise ValueError("custom failure")

    with pytest.raises(ValueError, match="custom failure"):
        DeepLift(model).attribute(x, target=0, custom_attribution_func=broken)
    with pytest.raises(ValueError, match="received 3 rows"), deeplift_rules(model):
        model(torch.randn(3, 4, requires_grad=True))
    assert _hook_count(model) == 0


def test_softmax_classifier_with_zero_baseline_is_complete_up_to_float64_rounding():
    # Captum's SoftmaxDeepLiftModel (all-ones weights, logits ~1e5 on these inputs): F(x) - F(0)
    # is exactly 0, and in float32 the endpoints carry rounding of ~1e-3 that depends on the
    # batch shape (the README's deliberate difference on where the delta's endpoints come
    # from). In float64 summation-to-delta holds to rounding: |delta| ~ 1e-16 * 1e5 * depth.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(40, 20), nn.ReLU(), nn.Linear(20, 20), nn.ReLU(),
                          nn.Linear(20, 10), nn.Softmax(dim=1)).double()
    with torch.no_grad():
        for index in (0, 2, 4):
            model[index].weight.fill_(1.0)
    inputs = torch.arange(120.0, dtype=torch.float64).reshape(3, 40)
    _, delta = DeepLift(model).attribute(inputs, 0, target=torch.tensor([2, 2, 2]),
                                         return_convergence_delta=True)
    assert delta.abs().max() < 1e-9
