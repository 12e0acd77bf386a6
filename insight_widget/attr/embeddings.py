"""Embedding helpers for text models (Captum's ``captum.attr._models.base`` public names).

Gradient methods need floating-point inputs, but text models take integer token ids. Two ways
around it:

* attribute to the embedding layer with a layer method (``LayerIntegratedGradients(model,
  model.embedding)``), which needs no change to the model; or
* :func:`configure_interpretable_embedding_layer`: temporarily replace the embedding module by
  an :class:`InterpretableEmbeddingBase` that passes pre-computed embeddings through, compute
  embeddings with :meth:`InterpretableEmbeddingBase.indices_to_embeddings`, attribute to them
  with any primary method, then restore the model with
  :func:`remove_interpretable_embedding_layer`.

:class:`TokenReferenceBase` builds a reference (baseline) sequence of one token, e.g. PAD.
"""

from __future__ import annotations

import warnings
from typing import Any, Tuple, Union

import torch
from torch import Tensor, nn

from ._utils.validation import check_int, describe


class InterpretableEmbeddingBase(nn.Module):
    """Stands in for an embedding layer: ``forward`` returns its first argument (the
    pre-computed embedding tensor) unchanged, so the rest of the model runs on embeddings
    computed outside it.

    Args:
        embedding: the original embedding module (kept as ``self.embedding``).
        full_name: its dotted name in the model.
    """

    def __init__(self, embedding: nn.Module, full_name: str) -> None:
        super().__init__()
        self.num_embeddings = getattr(embedding, "num_embeddings", None)
        self.embedding_dim = getattr(embedding, "embedding_dim", None)
        self.embedding = embedding
        self.full_name = full_name

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """The embedding tensor given as the first positional (or, without positional
        arguments, the first keyword) argument, unchanged."""
        if inputs:
            return inputs[0]
        if kwargs:
            return next(iter(kwargs.values()))
        raise ValueError(
            "InterpretableEmbeddingBase.forward needs the pre-computed embedding tensor as its "
            "first argument; got no arguments."
        )

    def indices_to_embeddings(self, *input: Any, **kwargs: Any) -> Tensor:
        """Embeddings of token indices (or whatever the original layer takes), computed by
        the original embedding layer."""
        return self.embedding(*input, **kwargs)


def _split_name(model: nn.Module, name: str) -> Tuple[nn.Module, str]:
    """The parent module of dotted ``name`` and the attribute name within it."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"`embedding_layer_name` must be a non-empty str; got {describe(name)}.")
    *path, leaf = name.split(".")
    parent: Any = model
    for part in path:
        parent = getattr(parent, part, None)
        if not isinstance(parent, nn.Module):
            break
    if not isinstance(parent, nn.Module) or not isinstance(getattr(parent, leaf, None),
                                                           nn.Module):
        embeddings = [n for n, m in model.named_modules() if isinstance(m, nn.Embedding)]
        raise ValueError(
            f"`embedding_layer_name` '{name}' is not a submodule of the model "
            f"({type(model).__name__}); embedding layers found: {embeddings or 'none'}."
        )
    return parent, leaf


def configure_interpretable_embedding_layer(
    model: nn.Module, embedding_layer_name: str = "embedding"
) -> InterpretableEmbeddingBase:
    """Replace ``model``'s embedding layer ``embedding_layer_name`` (a dotted name) by an
    :class:`InterpretableEmbeddingBase` wrapping it, and return the wrapper.

    The model then takes embeddings where it took token ids; call
    :func:`remove_interpretable_embedding_layer` to restore it. Warns, as Captum does, that
    the model is modified.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module; got {describe(model)}.")
    parent, leaf = _split_name(model, embedding_layer_name)
    embedding = getattr(parent, leaf)
    if isinstance(embedding, InterpretableEmbeddingBase):
        raise ValueError(
            f"`embedding_layer_name` '{embedding_layer_name}' is already an "
            "InterpretableEmbeddingBase; call remove_interpretable_embedding_layer first."
        )
    warnings.warn(
        f"configure_interpretable_embedding_layer replaced the model's layer "
        f"'{embedding_layer_name}' by an InterpretableEmbeddingBase: the model now takes "
        "embedding vectors (from `indices_to_embeddings`) instead of indices. Restore it with "
        "`remove_interpretable_embedding_layer` when the interpretation is finished.",
        UserWarning,
        stacklevel=2,
    )
    wrapper = InterpretableEmbeddingBase(embedding, embedding_layer_name)
    setattr(parent, leaf, wrapper)
    return wrapper


def remove_interpretable_embedding_layer(
    model: nn.Module, interpretable_emb: InterpretableEmbeddingBase
) -> None:
    """Put the original embedding layer back where ``interpretable_emb`` was installed."""
    if not isinstance(interpretable_emb, InterpretableEmbeddingBase):
        raise TypeError(
            "`interpretable_emb` must be the InterpretableEmbeddingBase returned by "
            f"configure_interpretable_embedding_layer; got {describe(interpretable_emb)}."
        )
    parent, leaf = _split_name(model, interpretable_emb.full_name)
    if getattr(parent, leaf) is not interpretable_emb:
        raise ValueError(
            f"`interpretable_emb` is not installed in the model at "
            f"'{interpretable_emb.full_name}' (it was already removed, or belongs to another "
            "model)."
        )
    setattr(parent, leaf, interpretable_emb.embedding)


class TokenReferenceBase:
    """Reference (baseline) token sequences made of one token, e.g. PAD.

    Args:
        reference_token_idx: index of the reference token in the vocabulary (default 0).
    """

    def __init__(self, reference_token_idx: int = 0) -> None:
        self.reference_token_idx = check_int("reference_token_idx", reference_token_idx)

    def generate_reference(self, sequence_length: int,
                           device: Union[torch.device, str]) -> Tensor:
        """A LongTensor of shape (sequence_length,) filled with the reference token index."""
        length = check_int("sequence_length", sequence_length, minimum=0)
        return torch.full((length,), self.reference_token_idx, dtype=torch.long,
                          device=device)


__all__ = [
    "InterpretableEmbeddingBase",
    "TokenReferenceBase",
    "configure_interpretable_embedding_layer",
    "remove_interpretable_embedding_layer",
]
