"""The bundled demo models (``insight_widget.examples``) in the visualiser, wired as a user
would: text from token ids, tabular rows with named columns, and two-modality VQA."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from insight_widget import AttributionVisualizer, Batch, GeneralFeature, ImageFeature, TextFeature
from insight_widget.examples import sentiment, shapes, tabular, vqa
from insight_widget.widget.wire import decode_tensor

from .conftest import Driver


def test_sentiment_reviews_get_one_score_per_token_from_the_embedding_layer():
    model, vocab = sentiment.load_model(), sentiment.load_vocab()
    ids, labels = sentiment.make_dataset("test", vocab)
    viz = AttributionVisualizer(
        model, sentiment.CLASSES,
        TextFeature("Review", baseline_transforms=None, input_transforms=None,
                    visualization_transform=lambda x: vocab.decode(x.reshape(-1),
                                                                   keep_padding=True)),
        [Batch(ids[:8], labels[:8])], score_func=lambda o: F.softmax(o, 1))
    driver = Driver(viz)
    request = driver.request("fetch", settings={"method": "Layer Integrated Gradients",
                                                "arguments": {"layer": ["embedding"]}},
                             filters={"num_examples": 2})
    assert driver.done(request)["state"] == "complete"
    example = driver.widget.examples[0]
    tokens = example["inputs"][0]["tokens"]
    layer = example["models"][0]["layer"]
    assert layer["kind"] == "sequence" and layer["values"]["shape"] == [len(tokens)]
    assert example["models"][0]["delta"] is not None


def test_tabular_rows_are_attributed_per_named_column():
    model = tabular.load_model()
    x, y = tabular.make_dataset(16, seed=1)
    feature = GeneralFeature("Hour", tabular.FEATURES, groups=tabular.feature_mask())
    viz = AttributionVisualizer(model, tabular.CLASSES, feature, [Batch(x, y)],
                                score_func=lambda o: F.softmax(o, 1))
    driver = Driver(viz)
    request = driver.request("fetch", settings={"method": "Feature Ablation",
                                                "arguments": {"feature_mask": "groups"}},
                             filters={"num_examples": 2})
    assert driver.done(request)["state"] == "complete"
    example = driver.widget.examples[0]
    assert example["inputs"][0]["names"] == tabular.FEATURES
    scores = decode_tensor(example["models"][0]["attribution"][0])
    assert scores.shape == (len(tabular.FEATURES),) and scores.abs().sum() > 0
    # one-hot columns of one categorical variable were ablated together: equal scores
    groups = tabular.feature_mask().reshape(-1)
    for group in groups.unique():
        members = scores[groups == group]
        assert torch.allclose(members, members[0].expand_as(members))


def test_vqa_attributes_the_picture_and_the_question_embeddings_together():
    model, vocab = vqa.load_model(), vqa.load_vocab()
    images, questions, answers = vqa.make_dataset(8, seed=1)

    def embed(ids):
        return model.embed_question(ids.unsqueeze(0)).squeeze(0).detach()

    viz = AttributionVisualizer(
        model, vqa.ANSWERS,
        [ImageFeature("Picture", baseline_transforms=[lambda x: x * 0],
                      input_transforms=[shapes.normalize]),
         TextFeature("Question", baseline_transforms=[lambda x: x * 0],
                     input_transforms=[embed],
                     visualization_transform=lambda x: vocab.decode(x.reshape(-1),
                                                                    keep_padding=True))],
        [Batch((images, questions), answers)], score_func=lambda o: F.softmax(o, 1))
    driver = Driver(viz)
    request = driver.request("fetch", settings={"method": "Integrated Gradients",
                                                "arguments": {"n_steps": 16}},
                             filters={"num_examples": 2, "prediction": "correct"})
    assert driver.done(request)["found"] == 2
    result = driver.widget.examples[0]["models"][0]
    assert result["error"] is None
    assert all(c is not None and c != 0 for c in result["contributions"])
    assert decode_tensor(result["attribution"][1]).shape == (vqa.MAX_LENGTH,)
    assert torch.isfinite(decode_tensor(result["attribution"][0])).all()


def test_token_id_models_open_with_layer_integrated_gradients_on_the_embedding():
    # Input gradients do not exist for token ids; the visualiser's default must still give one
    # score per token, in the widget and in Insights' visualize() outputs.
    from insight_widget.examples.apps import sentiment_visualizer

    viz = sentiment_visualizer()
    assert viz.selection.method == "Layer Integrated Gradients"
    assert viz.spec()["layers"][0]["default"] == "embedding"
    outputs = viz.visualize()
    assert outputs
    for (output,) in outputs:
        feature = output.feature_outputs[0]
        scores = decode_tensor(feature.modified)
        assert scores.shape == (len(feature.base["tokens"]),)
        assert scores.abs().sum() > 0


def test_float_input_models_keep_the_last_convolution_as_default_layer():
    viz = AttributionVisualizer(shapes.load_model(), shapes.CLASSES,
                                ImageFeature("Photo", None, None),
                                [Batch(*shapes.make_dataset(4, seed=3))])
    assert viz.selection.method == "Integrated Gradients"
    model = shapes.load_model()
    convs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    assert viz.spec()["layers"][0]["default"] == convs[-1]
