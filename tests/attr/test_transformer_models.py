"""``transformers`` BERT and GPT-2 sequence classifiers (tiny seeded configs, nothing
downloaded) on token ids with an attention mask: the methods that apply to ids give Captum's
numbers (the embedding-layer gradient methods, and the perturbation methods on the ids)."""

import warnings

import captum.attr as captum_attr
import numpy as np
import pytest
import torch

import insight_widget.attr as ours_attr

from .captum_oracle import assert_same
from .real_models import tiny_transformer, token_ids_and_mask

pytest.importorskip("transformers")


@pytest.fixture(scope="module", params=["bert", "gpt2"])
def transformer(request):
    return tiny_transformer(request.param)


def embedding_layer(model):
    return model.get_submodule("model").get_input_embeddings()


def both(name, model, inputs, *construct, **kwargs):
    results = []
    for library in (ours_attr, captum_attr):
        torch.manual_seed(3)
        np.random.seed(3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results.append(getattr(library, name)(model, *construct).attribute(inputs, **kwargs))
    return results


def test_embedding_layer_integrated_gradients_match_captum(transformer):
    ids, mask = token_ids_and_mask()
    ours, theirs = both("LayerIntegratedGradients", transformer, ids,
                        embedding_layer(transformer), baselines=torch.zeros_like(ids),
                        target=[1, 2], additional_forward_args=(mask,), n_steps=8,
                        return_convergence_delta=True)
    assert_same(ours[0], theirs[0])
    assert_same(ours[1], theirs[1])


@pytest.mark.parametrize("name", ["FeatureAblation", "Lime", "KernelShap"])
def test_perturbation_methods_on_token_ids_match_captum(transformer, name):
    ids, mask = token_ids_and_mask()
    extra = {} if name == "FeatureAblation" else {"n_samples": 16}
    ours, theirs = both(name, transformer, ids, baselines=0, target=1,
                        additional_forward_args=(mask,), **extra)
    assert ours.shape == ids.shape
    assert_same(ours, theirs)
