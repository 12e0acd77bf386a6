"""Layer methods on real architectures, compared with captum 0.9.0 (rtol 1e-5, atol 1e-6):
a conv net with batch norm and residual blocks, a batch-normalised MLP and an embedding text
model (token ids in, the mask as an additional forward argument)."""

import captum.attr as captum_attr
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
CONV_LAYERS = ["bn", "block1.conv1", "block2.shortcut", "gap"]
MLP = seeded(TabularMLP, seed=6)
ROWS = tabular_batch(4, seed=3)
TEXT = seeded(EmbeddingTextClassifier, seed=4)
IDS, MASK = token_batch(3, length=8, seed=2)


def module(model, name):
    return dict(model.named_modules())[name]


def both(name, model, layer, **construct):
    return (getattr(ours_attr, name)(model, layer, **construct),
            getattr(captum_attr, name)(model, layer, **construct))


def compare(name, model, layer, inputs, construct=None, delta=False, **kwargs):
    ours, theirs = both(name, model, layer, **(construct or {}))
    mine, reference = ours.attribute(inputs, **kwargs), theirs.attribute(inputs, **kwargs)
    (assert_same_delta if delta else assert_same)(mine, reference)
    return mine


@pytest.mark.parametrize("layer", CONV_LAYERS)
@pytest.mark.parametrize("to_input", [False, True])
def test_activation_gradient_x_activation_and_grad_cam_match_captum_on_conv_net(layer, to_input):
    target = [1, 2, 3]
    layer_ = module(CONV, layer)
    compare("LayerActivation", CONV, layer_, IMAGES, attribute_to_layer_input=to_input)
    compare("LayerGradientXActivation", CONV, layer_, IMAGES, target=target,
            attribute_to_layer_input=to_input)
    compare("LayerGradientXActivation", CONV, layer_, IMAGES,
            construct={"multiply_by_inputs": False}, target=target,
            attribute_to_layer_input=to_input)
    for relu in (False, True):
        compare("LayerGradCam", CONV, layer_, IMAGES, target=target,
                attribute_to_layer_input=to_input, relu_attributions=relu)
    compare("LayerGradCam", CONV, layer_, IMAGES, target=target,
            attribute_to_layer_input=to_input, attr_dim_summation=False)


@pytest.mark.parametrize("layer", CONV_LAYERS)
@pytest.mark.parametrize("to_input", [False, True])
def test_path_layer_methods_match_captum_on_conv_net(layer, to_input):
    layer_ = module(CONV, layer)
    common = dict(target=torch.tensor([0, 4, 9]), n_steps=5, attribute_to_layer_input=to_input)
    compare("InternalInfluence", CONV, layer_, IMAGES, baselines=0.1, **common)
    compare("LayerConductance", CONV, layer_, IMAGES, delta=True, baselines=0.1,
            return_convergence_delta=True, method="riemann_trapezoid", **common)
    compare("LayerIntegratedGradients", CONV, layer_, IMAGES, delta=True,
            baselines=IMAGES.mean(0, keepdim=True), return_convergence_delta=True, **common)


@pytest.mark.parametrize(("method", "internal_batch_size"), [
    ("gausslegendre", None), ("riemann_left", 5), ("riemann_right", 2), ("riemann_middle", 7),
    ("riemann_trapezoid", None), ("riemann_trapezoid", 9), ("gausslegendre", 100)])
def test_conductance_chunking_matches_captum_for_every_quadrature(method, internal_batch_size):
    compare("LayerConductance", MLP, MLP.relu1, ROWS, target=2, n_steps=6, method=method,
            internal_batch_size=internal_batch_size, delta=True,
            baselines=torch.zeros(1, 12), return_convergence_delta=True)


@pytest.mark.parametrize("internal_batch_size", [1, 9])
def test_chunked_internal_influence_and_layer_ig_match_captum(internal_batch_size):
    for name in ("InternalInfluence", "LayerIntegratedGradients"):
        compare(name, MLP, MLP.bn1, ROWS, target=[0, 1, 2, 0], n_steps=7,
                internal_batch_size=internal_batch_size, method="riemann_middle")


def test_layer_integrated_gradients_on_the_embedding_of_a_text_model_matches_captum():
    # Token ids are integers: attribution happens in the embedding layer's output space.
    result = compare("LayerIntegratedGradients", TEXT, TEXT.embedding, IDS, delta=True,
                     target=[0, 1, 2], additional_forward_args=(MASK,), n_steps=9,
                     return_convergence_delta=True)
    assert result[0].shape == (*IDS.shape, 16)
    compare("LayerIntegratedGradients", TEXT, TEXT.embedding, IDS, target=[0, 1, 2],
            additional_forward_args=(MASK,), n_steps=9, internal_batch_size=7,
            baselines=torch.zeros_like(IDS))
    compare("LayerIntegratedGradients", TEXT, TEXT.embedding, IDS,
            construct={"multiply_by_inputs": False}, target=1,
            additional_forward_args=(MASK,), n_steps=4)


def test_layer_methods_inside_a_text_model_match_captum():
    wrapper = EmbeddedText(TEXT).eval()
    with torch.no_grad():
        embeddings = TEXT.embedding(IDS)
    for name in ("LayerGradCam", "LayerGradientXActivation"):
        compare(name, wrapper, TEXT.conv, embeddings, target=[2, 0, 1],
                additional_forward_args=(MASK,))
    compare("LayerConductance", wrapper, TEXT.fc1, embeddings, target=[2, 0, 1], delta=True,
            additional_forward_args=(MASK,), n_steps=6, return_convergence_delta=True)


def test_list_of_layers_gives_one_result_per_layer_like_captum():
    layers = [CONV.bn, CONV.block1, CONV.block2.shortcut]
    acts = compare("LayerActivation", CONV, layers, IMAGES)
    assert isinstance(acts, list) and len(acts) == 3
    compare("LayerGradientXActivation", CONV, layers, IMAGES, target=2)
    # Layers on separate paths (the residual branch and its shortcut).
    separate = [CONV.block2.bn2, CONV.block2.shortcut]
    with pytest.warns(UserWarning, match="several layers"):
        ours = ours_attr.LayerIntegratedGradients(CONV, separate)
    theirs = captum_attr.LayerIntegratedGradients(CONV, separate)
    kwargs = dict(target=3, n_steps=5, return_convergence_delta=True)
    mine, reference = ours.attribute(IMAGES, **kwargs), theirs.attribute(IMAGES, **kwargs)
    assert_same(mine[0], reference[0])
    assert torch.allclose(mine[1], reference[1], atol=1e-4)


def test_models_wrapped_in_data_parallel_work_on_cpu():
    # Without GPUs DataParallel calls the module directly; hooks on the inner layer still fire.
    wrapped = nn.DataParallel(CONV)
    layer = CONV.block1.conv2
    for name, kwargs in [("LayerActivation", {}),
                         ("LayerGradCam", {"target": 1}),
                         ("LayerConductance", {"target": 1, "n_steps": 4}),
                         ("LayerIntegratedGradients", {"target": 1, "n_steps": 4})]:
        mine = getattr(ours_attr, name)(wrapped, layer, device_ids=None).attribute(IMAGES,
                                                                                   **kwargs)
        plain = getattr(ours_attr, name)(CONV, layer).attribute(IMAGES, **kwargs)
        reference = getattr(captum_attr, name)(wrapped, layer).attribute(IMAGES, **kwargs)
        assert_same(mine, reference)
        assert_same(mine, plain)


def test_memory_efficient_gradient_x_activation_gives_the_same_numbers():
    ours = ours_attr.LayerGradientXActivation(CONV, CONV.block1, memory_efficient=True)
    reference = captum_attr.LayerGradientXActivation(CONV, CONV.block1)
    assert_same(ours.attribute(IMAGES, target=4), reference.attribute(IMAGES, target=4))


def test_grad_kwargs_reach_autograd():
    ours = ours_attr.LayerGradientXActivation(MLP, MLP.fc2, multiply_by_inputs=False)
    plain = ours.attribute(ROWS, target=1)
    graph = ours.attribute(ROWS, target=1, grad_kwargs={"create_graph": True})
    assert torch.allclose(plain, graph)
    with pytest.raises(TypeError, match="unexpected keyword"):
        ours.attribute(ROWS, target=1, grad_kwargs={"not_an_autograd_argument": 1})
