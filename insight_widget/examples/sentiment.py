"""Text demo: a sentiment classifier of short reviews written for this project.

The corpus (``data/sentiment_reviews.tsv``) holds 330 one-line reviews of films, food, hotels,
gadgets and books, half positive and half negative, many with negations ("not bad at all",
"never boring") so that attributions have something to teach. Every fifth review of each class
is held out for testing. The vocabulary built from the training reviews ships as
``data/sentiment_vocab.json`` (id 0 is padding, id 1 unknown words).

The model embeds tokens (``model.embedding``, so LayerIntegratedGradients or an interpretable
embedding layer apply), convolves over three-token windows (it can read "not good") and takes
the maximum over positions.

>>> from insight_widget.examples import sentiment
>>> model, vocab = sentiment.load_model(), sentiment.load_vocab()
>>> ids = vocab.encode_batch(["not bad at all", "a waste of money"])   # (2, 16) long
>>> model(ids).argmax(1)                                               # tensor([1, 0])
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ._training import accuracy, fit
from ._weights import DATA_DIR, load_weights, save_weights

CLASSES: List[str] = ["negative", "positive"]
WEIGHTS = "sentiment"
CORPUS_PATH = DATA_DIR / "sentiment_reviews.tsv"
VOCAB_PATH = DATA_DIR / "sentiment_vocab.json"
PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
MAX_LENGTH = 16
WORD_DROPOUT = 0.15
TEST_EVERY = 5  # the review at position 4, 9, 14, ... of each class is held out
_TOKEN = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")


def tokenize(text: str) -> List[str]:
    """Lower-case word and punctuation tokens: ``"Not bad!"`` -> ``["not", "bad", "!"]``."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """Token <-> id mapping; ``itos[i]`` is the token with id ``i``."""

    itos: Tuple[str, ...]

    @property
    def stoi(self) -> Dict[str, int]:
        return {token: i for i, token in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, length: int = MAX_LENGTH) -> Tensor:
        """Token ids (length,) long: unknown words -> ``UNK_ID``, padded with ``PAD_ID``."""
        stoi = self.stoi
        ids = [stoi.get(token, UNK_ID) for token in tokenize(text)][:length]
        return torch.tensor(ids + [PAD_ID] * (length - len(ids)), dtype=torch.long)

    def encode_batch(self, texts: Sequence[str], length: int = MAX_LENGTH) -> Tensor:
        """Token ids (len(texts), length) long."""
        if not texts:
            return torch.zeros(0, length, dtype=torch.long)
        return torch.stack([self.encode(t, length) for t in texts])

    def decode(self, ids: Tensor, keep_padding: bool = False) -> List[str]:
        """Tokens of a (L,) id tensor (padding dropped unless ``keep_padding``)."""
        return [self.itos[i] for i in ids.tolist() if keep_padding or i != PAD_ID]


def load_reviews(split: str = "all") -> List[Tuple[str, int]]:
    """``(text, label)`` pairs of the corpus; ``split`` is ``"train"``, ``"test"`` or ``"all"``."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    seen: Counter = Counter()
    out = []
    for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        tag, text = line.split("\t", 1)
        label = {"neg": 0, "pos": 1}[tag]
        held_out = seen[label] % TEST_EVERY == TEST_EVERY - 1
        seen[label] += 1
        if split == "all" or (split == "test") == held_out:
            out.append((text, label))
    return out


def build_vocab(texts: Sequence[str]) -> Vocabulary:
    """Vocabulary of every token in ``texts`` (sorted, after ``<pad>`` and ``<unk>``)."""
    tokens = sorted({token for text in texts for token in tokenize(text)})
    return Vocabulary((PAD, UNK, *tokens))


def load_vocab() -> Vocabulary:
    """The bundled vocabulary (built from the training reviews)."""
    return Vocabulary(tuple(json.loads(VOCAB_PATH.read_text(encoding="utf-8"))))


def make_dataset(split: str = "test", vocab: Optional[Vocabulary] = None
                 ) -> Tuple[Tensor, Tensor]:
    """Token ids (n, MAX_LENGTH) long and labels (n,) long of a corpus split."""
    vocab = load_vocab() if vocab is None else vocab
    reviews = load_reviews(split)
    ids = vocab.encode_batch([text for text, _ in reviews])
    return ids, torch.tensor([label for _, label in reviews], dtype=torch.long)


class SentimentCNN(nn.Module):
    """Embedding (N, L, E) -> Conv1d over 3-token windows + ReLU -> max over L -> linear (N, 2).

    Input: token ids (N, L) long. ``model.embedding`` is the layer to attribute to with
    LayerIntegratedGradients (baseline: all ``PAD_ID``) or to replace by an interpretable
    embedding layer, in which case ``forward`` receives embeddings (N, L, E) instead of ids.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 24, channels: int = 32,
                 dropout: float = 0.3) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(dropout)
        self.conv = nn.Conv1d(embedding_dim, channels, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(channels, len(CLASSES))

    def forward(self, token_ids: Tensor) -> Tensor:
        embedded = self.dropout(self.embedding(token_ids))
        hidden = self.relu(self.conv(embedded.transpose(1, 2)))
        return self.fc(hidden.amax(dim=2))


def load_model() -> SentimentCNN:
    """The bundled, trained :class:`SentimentCNN` in eval mode."""
    return load_weights(SentimentCNN(len(load_vocab())), WEIGHTS)


def train(epochs: int = 60, log=print) -> SentimentCNN:
    """Rebuild the vocabulary from the training reviews, retrain, save weights and vocabulary."""
    vocab = build_vocab([text for text, _ in load_reviews("train")])
    VOCAB_PATH.write_text(json.dumps(list(vocab.itos), indent=0) + "\n", encoding="utf-8")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = SentimentCNN(len(vocab))
    ids, labels = make_dataset("train", vocab)

    def epoch_data(epoch: int):
        # word dropout: unknown words are common at test time on a corpus this small, so the
        # model must learn to judge a review from the words it does know
        g = torch.Generator().manual_seed(epoch)
        drop = (torch.rand(ids.shape, generator=g) < WORD_DROPOUT) & (ids != PAD_ID)
        return (torch.where(drop, torch.full_like(ids, UNK_ID), ids),), labels

    fit(model, epoch_data, epochs=epochs, batch_size=32, lr=1e-2, weight_decay=1e-3, seed=0,
        log=None)
    if log is not None:
        test_ids, test_labels = make_dataset("test", vocab)
        log(f"sentiment: train accuracy {accuracy(model, (ids,), labels):.3f}, "
            f"held-out accuracy {accuracy(model, (test_ids,), test_labels):.3f} "
            f"({len(test_labels)} reviews)")
    save_weights(model, WEIGHTS)
    return model
