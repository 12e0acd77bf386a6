"""Layer and neuron perturbation methods (ablation, permutation) on real architectures,
compared with captum 0.9.0 (same seeds for permutations)."""

import captum.attr as captum_attr
import pytest
import torch
from torch import nn

import insight_widget.attr as ours_attr
from insight_widget.testing import ResidualConvNet, TabularMLP, image_batch, seeded, tabular_batch

from .captum_oracle import assert_same

CONV = seeded(ResidualConvNet, seed=3, width=4)
IMAGES = image_batch(3, size=8, seed=1)
MLP = seeded(TabularMLP, seed=6)
ROWS = tabular_batch(5, seed=3)
CHANNEL_PAIRS = torch.arange(8).view(1, 8, 1, 1) // 3


class Column(nn.Module):
    """One output column of a model (a model with one value per example)."""

    def __init__(self, model: nn.Module, column: int) -> None:
        super().__init__()
        self.model, self.column = model, column

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, self.column]


def compare(name, model, layer, inputs, seed=None, **kwargs):
    results = []
    for library in (ours_attr, captum_attr):
        if seed is not None:
            torch.manual_seed(seed)
        results.append(getattr(library, name)(model, layer).attribute(inputs, **kwargs))
    assert_same(*results)
    return results[0]


@pytest.mark.parametrize("kwargs", [
    {"target": [1, 2, 3]},
    {"target": [1, 2, 3], "layer_mask": CHANNEL_PAIRS, "layer_baselines": 0.5},
    {"target": 1, "layer_mask": CHANNEL_PAIRS, "perturbations_per_eval": 3},
], ids=["every-neuron", "channel-groups-baseline", "perturbations-per-eval"])
def test_layer_feature_ablation_matches_captum_on_conv_net(kwargs):
    compare("LayerFeatureAblation", CONV, CONV.block2, IMAGES, **kwargs)


def test_layer_feature_ablation_of_layer_inputs_and_per_example_masks_matches_captum():
    compare("LayerFeatureAblation", CONV, CONV.block2.conv1, IMAGES, target=1,
            attribute_to_layer_input=True, layer_mask=torch.arange(4).view(1, 4, 1, 1),
            layer_baselines=torch.ones(1, 4, 4, 4))
    compare("LayerFeatureAblation", MLP, MLP.fc2, ROWS, target=2,
            layer_mask=torch.arange(16).repeat(5, 1) % 4)


@pytest.mark.parametrize("perturbations_per_eval", [1, 3])
def test_layer_feature_permutation_matches_captum_with_the_same_seed(perturbations_per_eval):
    # Captum's LayerFeaturePermutation fails with a `target` (it selects the target twice),
    # so the comparison uses models with one output per example.
    compare("LayerFeaturePermutation", Column(MLP, 2), MLP.relu1, ROWS, seed=7,
            perturbations_per_eval=perturbations_per_eval)
    compare("LayerFeaturePermutation", Column(CONV, 1), CONV.block2, IMAGES, seed=7,
            layer_mask=CHANNEL_PAIRS, perturbations_per_eval=perturbations_per_eval)


def test_layer_feature_permutation_with_a_target_equals_the_selected_column():
    torch.manual_seed(3)
    with_target = ours_attr.LayerFeaturePermutation(MLP, MLP.relu1).attribute(ROWS, target=2)
    torch.manual_seed(3)
    column = ours_attr.LayerFeaturePermutation(Column(MLP, 2), MLP.relu1).attribute(ROWS)
    assert torch.equal(with_target, column)


def test_layer_ablation_of_a_linear_head_is_weight_times_activation():
    # Ablating neuron j of the last hidden layer to 0 removes w_j * y_j from the logit.
    result = ours_attr.LayerFeatureAblation(MLP, MLP.relu2).attribute(ROWS, target=1)
    hidden = MLP.relu2(MLP.fc2(MLP.relu1(MLP.bn1(MLP.fc1(ROWS))))).detach()
    assert torch.allclose(result, hidden * MLP.fc3.weight[1].detach(), atol=1e-5)


@pytest.mark.parametrize(("selector", "kwargs"), [
    ((1, 1, 1), {}),
    ((slice(0, 3), 1, slice(None)), {"feature_mask": torch.arange(3).view(1, 3, 1, 1),
                                     "baselines": 0.2}),
    ((1, 0, 1), {"attribute_to_neuron_input": True, "perturbations_per_eval": 5,
                 "feature_mask": torch.arange(64).view(1, 1, 8, 8) // 16}),
], ids=["neuron", "slices-channel-mask", "layer-input-batched"])
def test_neuron_feature_ablation_matches_captum_on_conv_net(selector, kwargs):
    compare("NeuronFeatureAblation", CONV, CONV.block2, IMAGES, neuron_selector=selector,
            **kwargs)


def test_neuron_feature_ablation_with_a_callable_selector_matches_captum():
    compare("NeuronFeatureAblation", MLP, MLP.relu2, ROWS,
            neuron_selector=lambda out: out[:, 2] * out[:, 3],
            baselines=ROWS.mean(0, keepdim=True))
