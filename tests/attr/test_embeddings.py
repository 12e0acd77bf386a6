"""Embedding helpers: the interpretable embedding layer round trip, attributions on
embeddings (equal to Layer Integrated Gradients on the embedding layer), Captum parity."""

import warnings

import captum.attr as captum_attr
import pytest
import torch
from torch import nn

from insight_widget.attr import (
    IntegratedGradients,
    InterpretableEmbeddingBase,
    LayerIntegratedGradients,
    TokenReferenceBase,
    configure_interpretable_embedding_layer,
    remove_interpretable_embedding_layer,
)
from insight_widget.testing import EmbeddingTextClassifier, seeded, token_batch

from .captum_oracle import assert_same


def text_model():
    return seeded(EmbeddingTextClassifier, seed=4)


def test_configure_and_remove_round_trip_the_model():
    model = text_model()
    original = model.embedding
    ids, mask = token_batch(2, length=6)
    before = model(ids, mask)
    with pytest.warns(UserWarning, match="replaced the model's layer 'embedding'"):
        wrapper = configure_interpretable_embedding_layer(model, "embedding")
    assert isinstance(model.embedding, InterpretableEmbeddingBase)
    assert wrapper.embedding is original and wrapper.full_name == "embedding"
    assert (wrapper.num_embeddings, wrapper.embedding_dim) == (60, 16)
    embeddings = wrapper.indices_to_embeddings(ids)
    assert torch.equal(embeddings, original(ids))
    assert torch.equal(model(embeddings, mask), before)   # the model now takes embeddings
    remove_interpretable_embedding_layer(model, wrapper)
    assert model.embedding is original
    assert torch.equal(model(ids, mask), before)


def test_integrated_gradients_on_embeddings_equals_layer_ig_on_the_embedding_layer():
    model = text_model()
    ids, mask = token_batch(3, length=7, seed=5)
    reference_ids = TokenReferenceBase(reference_token_idx=0).generate_reference(7, "cpu")
    layer_ig = LayerIntegratedGradients(model, model.embedding).attribute(
        ids, baselines=reference_ids.expand(3, 7), target=[0, 1, 2],
        additional_forward_args=(mask,), n_steps=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapper = configure_interpretable_embedding_layer(model, "embedding")
    try:
        inputs = wrapper.indices_to_embeddings(ids)
        baselines = wrapper.indices_to_embeddings(reference_ids.expand(3, 7))
        ig = IntegratedGradients(model).attribute(inputs, baselines=baselines,
                                                  target=[0, 1, 2],
                                                  additional_forward_args=(mask,), n_steps=12)
    finally:
        remove_interpretable_embedding_layer(model, wrapper)
    assert torch.allclose(ig, layer_ig, atol=1e-6)


def test_matches_captums_helpers():
    ours, theirs = text_model(), text_model()
    ids, _ = token_batch(2, length=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mine = configure_interpretable_embedding_layer(ours)
        reference = captum_attr.configure_interpretable_embedding_layer(theirs)
    assert_same(mine.indices_to_embeddings(ids), reference.indices_to_embeddings(ids))
    embedded = mine.indices_to_embeddings(ids)
    assert_same(mine(embedded, "ignored", extra=1), reference(embedded, "ignored", extra=1))
    assert_same(TokenReferenceBase(3).generate_reference(4, torch.device("cpu")),
                captum_attr.TokenReferenceBase(3).generate_reference(4, torch.device("cpu")))


def test_nested_layer_names_are_supported():
    model = nn.Module()
    model.encoder = nn.Module()
    model.encoder.tokens = nn.Embedding(5, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapper = configure_interpretable_embedding_layer(model, "encoder.tokens")
    assert isinstance(model.encoder.tokens, InterpretableEmbeddingBase)
    remove_interpretable_embedding_layer(model, wrapper)
    assert isinstance(model.encoder.tokens, nn.Embedding)


def test_bad_arguments_are_reported():
    model = text_model()
    with pytest.raises(ValueError, match=r"'embeddings' is not a submodule.*\['embedding'\]"):
        configure_interpretable_embedding_layer(model, "embeddings")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapper = configure_interpretable_embedding_layer(model)
        with pytest.raises(ValueError, match="already an InterpretableEmbeddingBase"):
            configure_interpretable_embedding_layer(model)
    remove_interpretable_embedding_layer(model, wrapper)
    with pytest.raises(ValueError, match="not installed"):
        remove_interpretable_embedding_layer(model, wrapper)
    with pytest.raises(TypeError, match="interpretable_emb"):
        remove_interpretable_embedding_layer(model, model.embedding)
    with pytest.raises(TypeError, match="reference_token_idx"):
        TokenReferenceBase(1.5)
    with pytest.raises(ValueError, match="first argument"):
        InterpretableEmbeddingBase(nn.Embedding(3, 2), "e")()
