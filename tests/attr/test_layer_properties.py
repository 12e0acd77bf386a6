"""Properties of the layer methods that hold by construction, checked on small models whose
answers can be worked out by hand (plus Captum's golden Grad-CAM values)."""

import pytest
import torch
from torch import nn

import insight_widget.attr as ours_attr
from insight_widget.attr import LayerAttribution
from insight_widget.testing import TabularMLP, seeded, tabular_batch


class GapHead(nn.Module):
    """conv -> ReLU -> global average pooling -> linear: the CAM architecture."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)
        self.relu = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(5, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.gap(self.relu(self.conv(x))).flatten(1))


class OneConv(nn.Module):
    """Captum's one-convolution Grad-CAM test net, rebuilt: Conv2d(1, 2, 3) with all-one
    weights and biases (-50, -75), ReLU, flatten, Linear(8, 4) whose rows are
    (1, 1, 1, 1, 1, -1, -1, -1) with zero bias, ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3)
        self.relu1 = nn.ReLU()
        self.fc1 = nn.Linear(8, 4)
        self.relu2 = nn.ReLU()
        with torch.no_grad():
            self.conv1.weight.fill_(1.0)
            self.conv1.bias.copy_(torch.tensor([-50.0, -75.0]))
            self.fc1.weight.copy_(torch.tensor([[1.0] * 5 + [-1.0] * 3] * 4))
            self.fc1.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu2(self.fc1(self.relu1(self.conv1(x)).view(-1, 8)))


def test_grad_cam_reproduces_captums_golden_values():
    model = OneConv()
    inputs = torch.arange(16.0).view(1, 1, 4, 4)
    result = ours_attr.LayerGradCam(model, model.conv1).attribute(inputs, target=0)
    assert torch.allclose(result, torch.tensor([[[[11.25, 13.5], [20.25, 22.5]]]]))


def test_grad_cam_on_global_average_pooling_and_linear_head_equals_cam():
    torch.manual_seed(1)
    model = GapHead().eval()
    inputs = torch.randn(3, 3, 6, 6)
    target = torch.tensor([0, 2, 3])
    cam = ours_attr.LayerGradCam(model, model.relu).attribute(inputs, target=target)
    features = model.relu(model.conv(inputs)).detach()
    weights = model.fc.weight.detach()[target]                     # w_k^c, shape (N, K)
    area = features.shape[2] * features.shape[3]
    expected = (weights[:, :, None, None] * features).sum(1, keepdim=True) / area
    assert torch.allclose(cam, expected, atol=1e-6)
    # The pre-ReLU map sums to y^c - b^c (CAM's decomposition of the logit).
    logits = model(inputs).detach()[torch.arange(3), target]
    assert torch.allclose(cam.sum((1, 2, 3)), logits - model.fc.bias.detach()[target],
                          atol=1e-5)
    relu = ours_attr.LayerGradCam(model, model.relu).attribute(inputs, target=target,
                                                              relu_attributions=True)
    assert torch.equal(relu, cam.clamp(min=0))


def test_interpolate_upsamples_layer_maps_to_the_input_size():
    maps = torch.arange(4.0).view(1, 1, 2, 2)
    up = LayerAttribution.interpolate(maps, (4, 4))
    assert up.shape == (1, 1, 4, 4)
    assert torch.equal(up[0, 0], maps[0, 0].repeat_interleave(2, 0).repeat_interleave(2, 1))
    bilinear = LayerAttribution.interpolate(maps, (3, 3), "bilinear")
    assert bilinear.shape == (1, 1, 3, 3)


def test_layer_conductance_sums_to_the_output_change_within_its_delta():
    model = seeded(TabularMLP, seed=2)
    inputs = tabular_batch(5, seed=4)
    baselines = torch.zeros_like(inputs)
    conductance, delta = ours_attr.LayerConductance(model, model.relu1).attribute(
        inputs, baselines=baselines, target=1, n_steps=200, return_convergence_delta=True)
    change = (model(inputs)[:, 1] - model(baselines)[:, 1]).detach()
    total = conductance.sum(1)
    # delta is exactly the completeness error, and it is small with many steps.
    assert torch.allclose(total - change, delta, atol=1e-5)
    assert delta.abs().max() < 0.02 * change.abs().max()


def test_layer_integrated_gradients_is_complete_when_the_output_depends_only_on_the_layer():
    model = seeded(TabularMLP, seed=5)
    inputs, baselines = tabular_batch(4, seed=8), tabular_batch(4, seed=9)
    result, delta = ours_attr.LayerIntegratedGradients(model, model.fc2).attribute(
        inputs, baselines=baselines, target=0, n_steps=64, return_convergence_delta=True)
    change = (model(inputs)[:, 0] - model(baselines)[:, 0]).detach()
    assert torch.allclose(result.sum(1), change, atol=1e-3)
    assert delta.abs().max() < 1e-3


def test_gradient_x_activation_of_the_last_hidden_layer_sums_to_output_minus_bias():
    model = seeded(TabularMLP, seed=3)
    inputs = tabular_batch(6, seed=1)
    result = ours_attr.LayerGradientXActivation(model, model.relu2).attribute(inputs, target=2)
    expected = model(inputs)[:, 2] - model.fc3.bias[2]
    assert torch.allclose(result.sum(1), expected.detach(), atol=1e-5)


def test_layer_activation_is_the_layer_output_and_input():
    model = seeded(TabularMLP, seed=3)
    inputs = tabular_batch(6, seed=1)
    hidden = model.bn1(model.fc1(inputs)).detach()
    assert torch.equal(ours_attr.LayerActivation(model, model.bn1).attribute(inputs), hidden)
    assert torch.equal(ours_attr.LayerActivation(model, model.relu1).attribute(
        inputs, attribute_to_layer_input=True), hidden)


def test_internal_influence_of_a_linear_model_is_the_weight():
    linear = nn.Linear(4, 3)
    model = nn.Sequential(linear, nn.Identity())
    inputs = torch.randn(5, 4)
    result = ours_attr.InternalInfluence(model, linear).attribute(inputs, target=1, n_steps=3)
    # d y_1 / d (linear output) is the one-hot vector e_1 everywhere on the path.
    assert torch.allclose(result, torch.eye(3)[1].expand(5, 3))


@pytest.mark.parametrize("inplace", [False, True])
def test_in_place_layers_record_their_true_inputs_and_outputs(inplace):
    # An in-place ReLU after the recorded layer must not change the recorded activation or
    # its gradient (the pre-activation and the masked gradient).
    linear = nn.Linear(3, 4)
    model = nn.Sequential(linear, nn.ReLU(inplace=inplace), nn.Linear(4, 1))
    inputs = torch.randn(6, 3) * 3
    pre = linear(inputs).detach()
    activation = ours_attr.LayerActivation(model, linear).attribute(inputs)
    assert torch.equal(activation, pre)
    gradient = ours_attr.LayerGradientXActivation(model, linear, multiply_by_inputs=False)
    expected = (pre > 0).float() * model[2].weight.detach()
    assert torch.allclose(gradient.attribute(inputs), expected)
    relu_input = ours_attr.LayerActivation(model, model[1]).attribute(
        inputs, attribute_to_layer_input=True)
    assert torch.equal(relu_input, pre)
