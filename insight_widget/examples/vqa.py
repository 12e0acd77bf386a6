"""Two-modality demo: answer a question about a shapes scene ("what shape?" / "what colour?").

Every scene (see :mod:`._drawing`) holds one shape in one colour, so each image has two right
answers and only the question says which one is wanted: the model has to use both modalities.
Attributing the answer to the image pixels *and* to the question's word embeddings shows how
much each modality contributed (like the VQA figure of the Captum paper): for "what colour is
the shape" the word "colour" — not "shape" — should carry the question's weight.

The question phrasings live in ``data/vqa_questions.json``; the vocabulary is built from them.
Images enter the model normalised with :func:`insight_widget.examples.shapes.normalize`.

>>> from insight_widget.examples import vqa, shapes
>>> model, vocab = vqa.load_model(), vqa.load_vocab()
>>> images, questions, answers = vqa.make_dataset(4, seed=1)
>>> logits = model(shapes.normalize(images), questions)          # (4, len(vqa.ANSWERS))
>>> embedded = model.embed_question(questions)                    # (4, L, E) float
>>> same = model(shapes.normalize(images), embedded)              # float question = embeddings
"""

from __future__ import annotations

import json
from typing import Dict, List, Tuple

import torch
from torch import Tensor, nn

from ._drawing import COLOUR_NAMES, SHAPES, draw_scenes
from ._training import accuracy, fit
from ._weights import DATA_DIR, load_weights, save_weights
from .sentiment import PAD, PAD_ID, UNK, Vocabulary, tokenize
from .shapes import normalize

ANSWERS: List[str] = [*SHAPES, *COLOUR_NAMES]
QUESTION_TYPES: List[str] = ["shape", "colour"]
QUESTIONS_PATH = DATA_DIR / "vqa_questions.json"
WEIGHTS = "vqa"
MAX_LENGTH = 8
TRAIN_SEED = 20_000
TEST_SEED = 2025
TRAIN_SIZE = 8000


def load_questions() -> Dict[str, List[str]]:
    """Question phrasings per question type (``"shape"``, ``"colour"``)."""
    return json.loads(QUESTIONS_PATH.read_text(encoding="utf-8"))


def load_vocab() -> Vocabulary:
    """Vocabulary of every word of the question phrasings (after ``<pad>``, ``<unk>``)."""
    words = sorted({t for qs in load_questions().values() for q in qs for t in tokenize(q)})
    return Vocabulary((PAD, UNK, *words))


def make_dataset_with_types(n: int, seed: int = TEST_SEED
                            ) -> Tuple[Tensor, Tensor, Tensor, Tensor, List[str]]:
    """Scenes with one random question each, deterministic in ``seed``.

    Returns:
        images (n, 3, 32, 32) in [0, 1], question token ids (n, MAX_LENGTH) long, answers (n,)
        long indexing :data:`ANSWERS`, question types (n,) long indexing
        :data:`QUESTION_TYPES`, and the question texts.
    """
    scenes = draw_scenes(n, seed)
    g = torch.Generator().manual_seed(int(seed) + 1)
    kinds = torch.randint(len(QUESTION_TYPES), (n,), generator=g)
    phrasings = load_questions()
    choice = torch.randint(10**6, (n,), generator=g)
    texts = []
    for kind, pick in zip(kinds.tolist(), choice.tolist()):
        options = phrasings[QUESTION_TYPES[kind]]
        texts.append(options[pick % len(options)])
    questions = load_vocab().encode_batch(texts, MAX_LENGTH)
    answers = torch.where(kinds == 0, scenes.shapes, len(SHAPES) + scenes.colours)
    return scenes.images, questions, answers, kinds, texts


def make_dataset(n: int, seed: int = TEST_SEED) -> Tuple[Tensor, Tensor, Tensor]:
    """``(images in [0, 1], question ids, answers)`` — see :func:`make_dataset_with_types`."""
    images, questions, answers, _, _ = make_dataset_with_types(n, seed)
    return images, questions, answers


class VQANet(nn.Module):
    """Image CNN and bag-of-embeddings question encoder fused by an element-wise product.

    ``forward(images, question)``: images (N, 3, 32, 32) normalised; question either token
    ids (N, L) long or their embeddings (N, L, E) float (``embed_question``), so gradient
    methods can attribute to the words. Output: (N, len(ANSWERS)) logits.
    The question is summed over positions (padding embeds to zero), so no mask is needed.
    """

    def __init__(self, vocab_size: int, width: int = 16, embedding_dim: int = 16,
                 hidden: int = 48) -> None:
        super().__init__()
        w1, w2, w3 = width, 2 * width, 3 * width
        self.conv1 = nn.Conv2d(3, w1, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.AvgPool2d(2)
        self.conv2 = nn.Conv2d(w1, w2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(w2)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.AvgPool2d(2)
        self.conv3 = nn.Conv2d(w2, w3, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(w3)
        self.relu3 = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.image_fc = nn.Linear(w3, hidden)
        self.image_relu = nn.ReLU()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.question_fc = nn.Linear(embedding_dim, hidden)
        self.question_act = nn.Sigmoid()
        self.fc1 = nn.Linear(hidden, hidden)
        self.relu4 = nn.ReLU()
        self.fc2 = nn.Linear(hidden, len(ANSWERS))

    def embed_question(self, question_ids: Tensor) -> Tensor:
        """Word embeddings (N, L, E) of token ids (N, L)."""
        return self.embedding(question_ids)

    def forward(self, images: Tensor, question: Tensor) -> Tensor:
        x = self.pool1(self.relu1(self.bn1(self.conv1(images))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        x = self.flatten(self.gap(self.relu3(self.bn3(self.conv3(x)))))
        image_vec = self.image_relu(self.image_fc(x))
        embedded = question if question.is_floating_point() else self.embedding(question)
        gate = self.question_act(self.question_fc(embedded.sum(dim=1)))
        return self.fc2(self.relu4(self.fc1(image_vec * gate)))


def load_model() -> VQANet:
    """The bundled, trained :class:`VQANet` in eval mode."""
    return load_weights(VQANet(len(load_vocab())), WEIGHTS)


def train(epochs: int = 10, log=print) -> VQANet:
    """Retrain from seed 0 on fresh scenes and questions every epoch; save ``weights/vqa.pt``."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = VQANet(len(load_vocab()))

    def epoch_data(epoch: int):
        images, questions, answers = make_dataset(TRAIN_SIZE, TRAIN_SEED + epoch)
        return (normalize(images), questions), answers

    fit(model, epoch_data, epochs=epochs, lr=4e-3, seed=0, log=log)
    if log is not None:
        images, questions, answers = make_dataset(2000, TEST_SEED)
        score = accuracy(model, (normalize(images), questions), answers)
        log(f"vqa: held-out accuracy {score:.3f}")
    save_weights(model, WEIGHTS)
    return model
