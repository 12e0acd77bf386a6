"""Ready-made visualisers on the bundled demo models (used by ``python -m insight_widget.example``
and the notebooks).

Each function returns an :class:`insight_widget.AttributionVisualizer` (the language model's:
an :class:`insight_widget.LLMAttributionVisualizer`); call ``.render()`` in
a notebook or ``.serve()`` from a script. Datasets are lists of :class:`insight_widget.Batch`,
so fetching can start over at the end.
"""

from __future__ import annotations

from typing import List, Sequence

import torch
from torch import Tensor

from ..widget import (
    AttributionVisualizer,
    Batch,
    GeneralFeature,
    ImageFeature,
    LLMAttributionVisualizer,
    TextFeature,
)
from . import llm, sentiment, shapes, shortcut, tabular, vqa


def softmax(scores: Tensor) -> Tensor:
    """Class probabilities from logits (N, C) — the visualisers' ``score_func``."""
    return torch.softmax(scores, dim=1)


def _batches(tensors: Sequence[Tensor], labels: Tensor, batch_size: int) -> List[Batch]:
    batches = []
    for begin in range(0, len(labels), batch_size):
        rows = slice(begin, begin + batch_size)
        parts = tuple(t[rows] for t in tensors)
        batches.append(Batch(parts if len(parts) > 1 else parts[0], labels=labels[rows]))
    return batches


def shapes_feature() -> ImageFeature:
    """An image feature showing [0, 1] scenes and feeding the CNN normalised ones."""
    return ImageFeature("Picture", baseline_transforms=None,
                        input_transforms=[shapes.normalize])


def shapes_visualizer(n: int = 64, seed: int = shapes.TEST_SEED,
                      with_shortcut: bool = False) -> AttributionVisualizer:
    """The shapes CNN on ``n`` held-out scenes; ``with_shortcut`` adds the biased model of the
    classroom exercise as a second row ("Model 1") for side-by-side comparison."""
    images, labels = shapes.make_dataset(n, seed)
    models = [shapes.load_model()] + ([shortcut.load_model()] if with_shortcut else [])
    return AttributionVisualizer(models=models, classes=shapes.CLASSES,
                                 features=[shapes_feature()],
                                 dataset=_batches([images], labels, 8), score_func=softmax)


def sentiment_visualizer(split: str = "test") -> AttributionVisualizer:
    """The sentiment CNN on the corpus' held-out reviews (one review per batch, unpadded, so
    every token shown is a word of the review). Attribute with a layer method on
    ``embedding`` (Layer Integrated Gradients) — the inputs are token ids."""
    vocab = sentiment.load_vocab()
    dataset = []
    for text, label in sentiment.load_reviews(split):
        ids = vocab.encode(text, length=len(sentiment.tokenize(text)) or 1)
        dataset.append(Batch(ids.unsqueeze(0), labels=torch.tensor([label])))

    def tokens(ids: Tensor) -> List[str]:
        return vocab.decode(ids.reshape(-1))

    feature = TextFeature("Review", baseline_transforms=None, input_transforms=None,
                          visualization_transform=tokens)
    return AttributionVisualizer(models=[sentiment.load_model()], classes=sentiment.CLASSES,
                                 features=[feature], dataset=dataset, score_func=softmax)


def tabular_visualizer(n: int = 64, seed: int = tabular.TEST_SEED) -> AttributionVisualizer:
    """The bike-demand MLP on ``n`` held-out rows, one bar per encoded column."""
    rows, labels = tabular.make_dataset(n, seed)
    feature = GeneralFeature("Conditions", categories=tabular.FEATURES)
    return AttributionVisualizer(models=[tabular.load_model()], classes=tabular.CLASSES,
                                 features=[feature], dataset=_batches([rows], labels, 8),
                                 score_func=softmax)


def vqa_visualizer(n: int = 64, seed: int = vqa.TEST_SEED) -> AttributionVisualizer:
    """The image + question model: the question feature embeds its token ids (as the Insights
    VQA tutorial did), so gradient methods attribute to both modalities and the per-modality
    contribution bars show how much the picture and the question each mattered."""
    model = vqa.load_model()
    vocab = vqa.load_vocab()
    images, questions, answers = vqa.make_dataset(n, seed)

    def embed(ids: Tensor) -> Tensor:
        with torch.no_grad():
            return model.embed_question(ids)

    def words(ids: Tensor) -> List[str]:
        return vocab.decode(ids.reshape(-1), keep_padding=True)

    # one scene per batch with its question unpadded: every token shown is a word asked
    dataset = []
    for image, ids, answer in zip(images, questions, answers):
        ids = ids[ids != sentiment.PAD_ID]
        dataset.append(Batch((image.unsqueeze(0), ids.unsqueeze(0)), labels=answer.view(1)))

    picture = shapes_feature()
    # the all-zeros baseline of the embedded question is the all-padding question
    question = TextFeature("Question", baseline_transforms=None, input_transforms=[embed],
                           visualization_transform=words)
    return AttributionVisualizer(models=[model], classes=vqa.ANSWERS,
                                 features=[picture, question],
                                 dataset=dataset, score_func=softmax)


LLM_PROMPTS = ("the capital of france is", "the opposite of hot is", "listen , the dog",
               "big : small , up : down , fast :", "the colour of the | sky | is")


def llm_visualizer() -> LLMAttributionVisualizer:
    """The demo GPT-2 (``examples/llm.py``): prompts about capitals, sounds, opposites, a
    few-shot line, and one cut into template segments with "|"."""
    return LLMAttributionVisualizer(llm.load_model(), llm.load_tokenizer(),
                                    prompts=list(LLM_PROMPTS), max_new_tokens=2)


VISUALIZERS = {
    "shapes": shapes_visualizer,
    "vqa": vqa_visualizer,
    "sentiment": sentiment_visualizer,
    "tabular": tabular_visualizer,
    "llm": llm_visualizer,
}
