"""Layer/neuron DeepLift, DeepLiftShap, GradientShap, Neuron Guided Backprop / Deconvolution
and Guided Grad-CAM on real architectures, compared with captum 0.9.0 (same seeds for the
random draws of GradientShap)."""

import warnings

import captum.attr as captum_attr
import numpy as np
import pytest
import torch
from torch import nn

import insight_widget.attr as ours_attr
from insight_widget.testing import (
    EmbeddingTextClassifier,
    ResidualConvNet,
    TabularMLP,
    image_batch,
    seeded,
    tabular_batch,
    token_batch,
)

from .captum_oracle import assert_same, assert_same_delta
from .real_models import EmbeddedText

CONV = seeded(ResidualConvNet, seed=3, width=4)
IMAGES = image_batch(3, size=8, seed=1)
REFERENCES = image_batch(4, size=8, seed=9)
MLP = seeded(TabularMLP, seed=6)
ROWS = tabular_batch(5, seed=3)
LAYERS = ["block1.conv1", "block2.relu1", "pool", "gap"]


def compare(name, model, layer, inputs, delta=False, construct=None, **kwargs):
    results = []
    for library in (ours_attr, captum_attr):
        torch.manual_seed(1)
        np.random.seed(1)
        algorithm = getattr(library, name)(model, layer, **(construct or {}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results.append(algorithm.attribute(inputs, **kwargs))
    (assert_same_delta if delta else assert_same)(*results)
    return results[0]


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("to_input", [False, True])
def test_layer_deep_lift_family_matches_captum_on_conv_net(layer, to_input):
    layer_ = CONV.get_submodule(layer)
    common = dict(attribute_to_layer_input=to_input, return_convergence_delta=True,
                  delta=True)
    compare("LayerDeepLift", CONV, layer_, IMAGES, target=[1, 2, 3], baselines=0.1, **common)
    compare("LayerDeepLiftShap", CONV, layer_, IMAGES, target=1, baselines=REFERENCES,
            **common)
    compare("LayerGradientShap", CONV, layer_, IMAGES, target=1, baselines=REFERENCES,
            n_samples=3, stdevs=0.1, **common)


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("to_input", [False, True])
def test_neuron_deep_lift_family_and_modified_relus_match_captum_on_conv_net(layer, to_input):
    layer_ = CONV.get_submodule(layer)
    common = dict(neuron_selector=(1, 0, 0), attribute_to_neuron_input=to_input)
    compare("NeuronDeepLift", CONV, layer_, IMAGES, baselines=0.1, **common)
    compare("NeuronDeepLiftShap", CONV, layer_, IMAGES, baselines=REFERENCES, **common)
    compare("NeuronGradientShap", CONV, layer_, IMAGES, baselines=REFERENCES, n_samples=3,
            stdevs=0.2, **common)
    compare("NeuronGuidedBackprop", CONV, layer_, IMAGES, **common)
    compare("NeuronDeconvolution", CONV, layer_, IMAGES, **common)


def test_layer_deep_lift_input_of_a_rule_layer_uses_its_ordinary_derivative_like_captum():
    # Attributing to the input of a ReLU: the ReLU's own rescale rule is not applied there.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    inputs = torch.randn(4, 3, dtype=torch.float64) * 2
    multipliers = compare("LayerDeepLift", model, model[1], inputs, baselines=-inputs, target=0,
                          construct={"multiply_by_inputs": False},
                          attribute_to_layer_input=True)
    hidden = model[0](inputs).detach()
    assert torch.allclose(multipliers, model[2].weight.detach()[0] * (hidden > 0), atol=1e-12)


@pytest.mark.parametrize("multiply_by_inputs", [True, False])
def test_layer_deep_lift_input_of_an_in_place_relu_matches_captum(multiply_by_inputs):
    # The ReLU's ordinary derivative is replayed on its recorded input; an in-place ReLU must
    # not overwrite that input (a leaf that requires grad).
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 2)).double()
    inputs = torch.randn(4, 3, dtype=torch.float64) * 2
    compare("LayerDeepLift", model, model[1], inputs, baselines=-inputs, target=0,
            construct={"multiply_by_inputs": multiply_by_inputs},
            attribute_to_layer_input=True, return_convergence_delta=True, delta=True)
    assert model[1].inplace


class PooledColumn(nn.Module):
    """linear -> max-pool of its 4 units to one -> linear: a layer of per-example shape (1, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin1 = nn.Linear(4, 4)
        self.pool = nn.MaxPool1d(4)
        self.lin2 = nn.Linear(1, 1)

    def forward(self, x):
        return self.lin2(self.pool(self.lin1(x).unsqueeze(1)).squeeze(1))


def test_neuron_selectors_leaving_one_element_per_example_match_captum():
    # An int index on a (1, 1) layer leaves a one-element block; a callable may return (N, 1).
    model = seeded(PooledColumn, seed=2).double()
    inputs = torch.randn(3, 4, dtype=torch.float64)
    references = torch.randn(3, 4, dtype=torch.float64)
    compare("NeuronDeepLift", model, model.pool, inputs, baselines=references,
            neuron_selector=0)
    compare("NeuronGradient", model, model.pool, inputs, neuron_selector=lambda y: y[:, 0])
    compare("NeuronGradientShap", model, model.lin1, inputs, baselines=references,
            n_samples=3, construct={"multiply_by_inputs": False},
            neuron_selector=lambda y: y[:, 0:1])


def test_layer_deep_lift_multipliers_feeding_a_max_pool_agree_where_the_layer_changes():
    # Where the layer's value is equal at input and baseline (e.g. both ReLU outputs 0) the
    # multiplier is multiplied by 0; there ours and Captum's may differ for a layer that feeds
    # a MaxPool directly. Attributions and every multiplier that counts agree.
    layer = CONV.block1.relu2
    ours = ours_attr.LayerDeepLift(CONV, layer, multiply_by_inputs=False).attribute(
        IMAGES, 0.1, target=1)
    theirs = captum_attr.LayerDeepLift(CONV, layer, multiply_by_inputs=False).attribute(
        IMAGES, 0.1, target=1)
    change = (ours_attr.LayerActivation(CONV, layer).attribute(IMAGES)
              - ours_attr.LayerActivation(CONV, layer).attribute(torch.full_like(IMAGES, 0.1)))
    moved = change.abs() > 0
    assert torch.allclose(ours[moved], theirs.detach()[moved], rtol=1e-5, atol=1e-6)
    compare("LayerDeepLift", CONV, layer, IMAGES, baselines=0.1, target=1)


def test_custom_attribution_functions_match_captum():
    compare("LayerDeepLift", MLP, MLP.fc2, ROWS, target=1,
            custom_attribution_func=lambda m, x, b: tuple(mm * (xx - bb) ** 2
                                                          for mm, xx, bb in zip(m, x, b)))
    compare("NeuronDeepLift", MLP, MLP.fc2, ROWS, neuron_selector=3,
            custom_attribution_func=lambda m: tuple(2 * mm for mm in m))


def test_deep_lift_family_on_a_text_model_matches_captum():
    text = seeded(EmbeddingTextClassifier, seed=4)
    ids, mask = token_batch(3, length=8, seed=2)
    with torch.no_grad():
        embeddings = text.embedding(ids)
    wrapper = EmbeddedText(text).eval()
    compare("LayerDeepLift", wrapper, text.conv, embeddings, target=[0, 1, 2],
            additional_forward_args=(mask,), return_convergence_delta=True, delta=True)
    compare("NeuronDeepLift", wrapper, text.fc1, embeddings, neuron_selector=3,
            additional_forward_args=(mask,))
    compare("LayerGradientShap", wrapper, text.fc1, embeddings, target=1,
            baselines=torch.zeros(2, 8, 16), additional_forward_args=(mask,))


def test_layer_deep_lift_shap_averages_layer_deep_lift_over_references():
    references = tabular_batch(3, seed=11)
    shap = ours_attr.LayerDeepLiftShap(MLP, MLP.relu2).attribute(ROWS, references, target=0)
    single = torch.stack([ours_attr.LayerDeepLift(MLP, MLP.relu2).attribute(
        ROWS, references[k:k + 1], target=0) for k in range(3)]).mean(0)
    assert torch.allclose(shap, single, atol=1e-6)


@pytest.mark.parametrize("layer", ["block2.conv2", "block2"])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_guided_grad_cam_matches_captum(layer, mode):
    layer_ = CONV.get_submodule(layer)
    for to_input in (False, True):
        compare("GuidedGradCam", CONV, layer_, IMAGES, target=[1, 2, 3],
                interpolate_mode=mode, attribute_to_layer_input=to_input)


def test_guided_grad_cam_is_guided_backprop_times_upsampled_grad_cam():
    layer = CONV.block1.conv2
    result = ours_attr.GuidedGradCam(CONV, layer).attribute(IMAGES, target=4)
    cam = ours_attr.LayerGradCam(CONV, layer).attribute(IMAGES, target=4,
                                                        relu_attributions=True)
    guided = ours_attr.GuidedBackprop(CONV).attribute(IMAGES, target=4)
    assert torch.allclose(result, guided * ours_attr.LayerAttribution.interpolate(cam, (8, 8)))
    assert bool((cam >= 0).all())


def test_guided_grad_cam_gives_empty_attributions_to_inputs_it_cannot_upsample_to():
    class ImageAndRow(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.relu = nn.ReLU()
            self.fc = nn.Linear(2 * 4 * 4 + 3, 2)

        def forward(self, image, row):
            return self.fc(torch.cat([self.relu(self.conv(image)).flatten(1), row], 1))

    model = ImageAndRow()
    inputs = (torch.randn(2, 1, 6, 6), torch.randn(2, 3))
    with pytest.warns(UserWarning, match="cannot be upsampled"):
        image, row = ours_attr.GuidedGradCam(model, model.conv).attribute(inputs, target=1)
    assert image.shape == (2, 1, 6, 6) and row.shape == (0,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = captum_attr.GuidedGradCam(model, model.conv).attribute(inputs, target=1)
    assert_same(image, reference[0])
    assert reference[1].shape == row.shape
