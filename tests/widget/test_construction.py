"""Bad input at construction is a clear error naming what does not match."""

from __future__ import annotations

import pytest
import torch

from insight_widget import AttributionVisualizer, Batch, GeneralFeature, ImageFeature

from .conftest import make_cifar_visualizer
from .small_models import TinyTabular, seeded


def test_features_that_do_not_match_the_model_inputs_are_rejected():
    two = [ImageFeature("a", None, None), ImageFeature("b", None, None)]
    with pytest.raises(ValueError, match=r"`features` has 2 entries but .* has 1 tensors"):
        make_cifar_visualizer(features=two)


def test_a_feature_whose_input_the_model_cannot_take_is_rejected_with_the_shapes():
    squash = ImageFeature("Photo", None, input_transforms=[lambda x: x[:, :8, :8]])
    with pytest.raises(ValueError, match=r"model 0 failed .*\(1, 3, 8, 8\)"):
        make_cifar_visualizer(features=[squash])


def test_classes_that_do_not_match_the_model_outputs_are_rejected():
    with pytest.raises(ValueError, match="`classes` has 3 names but model 0 returns 10"):
        make_cifar_visualizer(classes=["a", "b", "c"])


def test_a_dataset_that_yields_something_other_than_batch_is_rejected():
    with pytest.raises(TypeError, match=r"must yield insight_widget\.Batch"):
        make_cifar_visualizer(dataset=[torch.zeros(2, 3, 32, 32)])


def test_an_empty_dataset_and_a_non_iterable_are_rejected():
    with pytest.raises(ValueError, match="empty"):
        make_cifar_visualizer(dataset=[])
    with pytest.raises(TypeError, match="iterable of Batch"):
        make_cifar_visualizer(dataset=3)


def test_non_feature_objects_and_bad_classes_are_rejected():
    with pytest.raises(TypeError, match="BaseFeature"):
        make_cifar_visualizer(features=["Photo"])
    with pytest.raises(TypeError, match="list of str"):
        make_cifar_visualizer(classes="plane car")


def test_labels_of_the_wrong_length_are_reported():
    with pytest.raises(ValueError, match="1 entries for 2 examples"):
        make_cifar_visualizer(dataset=[Batch(torch.rand(2, 3, 32, 32), torch.tensor([1]))])


def test_methods_needing_float_inputs_are_not_offered_for_integer_inputs():
    class Ids(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(10, 4)
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, ids):
            return self.fc(self.embedding(ids).mean(1))

    data = [Batch(torch.randint(0, 10, (3, 5)), torch.tensor([0, 1, 0]))]
    viz = AttributionVisualizer(Ids(), ["no", "yes"], GeneralFeature("ids", []), data)
    names = [m.name for m in viz.methods]
    assert "Integrated Gradients" not in names and "Saliency" not in names
    assert all(not m.gradients for m in viz.methods)


def test_a_scalar_output_model_gets_a_prediction_but_no_class_target():
    class Score(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = TinyTabular(5, 1)

        def forward(self, x):
            return torch.sigmoid(self.inner(x))

    data = [Batch(torch.rand(3, 5), None)]
    viz = AttributionVisualizer(seeded(Score()), ["negative", "positive"],
                                GeneralFeature("row", list("abcde")), data)
    example = viz.fetch(1).examples[0]
    (prediction,) = example.predictions[0]
    assert prediction["scalar"] is True and prediction["index"] in (0, 1)
    assert viz.default_target(example, 0) is None
    outcome = viz.attribute(example, 0, viz.make_settings("Saliency"))
    assert outcome.wire["error"] is None and outcome.wire["target"] is None


def test_unknown_methods_and_arguments_are_named_in_the_error():
    viz = make_cifar_visualizer()
    with pytest.raises(ValueError, match="unknown attribution method 'Magic'"):
        viz.make_settings("Magic")
    with pytest.raises(ValueError, match=r"no argument\(s\) \['steps'\]"):
        viz.make_settings("Integrated Gradients", {"steps": 3})
    with pytest.raises(ValueError, match="baseline of feature 'Photo' must be one of"):
        viz.make_settings("Integrated Gradients", baselines=["sky"])
