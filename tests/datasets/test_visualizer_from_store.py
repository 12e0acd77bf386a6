"""AttributionVisualizer.from_store / from_attributions: stored maps are shown, not recomputed;
other methods and targets run live; a store of another model is refused."""

from __future__ import annotations

import pytest
import torch

from insight_widget import AttributionVisualizer, Batch, ImageFeature
from insight_widget.attr import IntegratedGradients
from insight_widget.datasets import attribute_dataset
from insight_widget.examples import shapes, shortcut


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    model = shapes.load_model()
    images, labels = shapes.make_dataset(12, seed=4)
    inputs = shapes.normalize(images)
    batches = [Batch(inputs[i:i + 4], labels[i:i + 4]) for i in range(0, 12, 4)]
    path = tmp_path_factory.mktemp("stores") / "ig"
    store = attribute_dataset(IntegratedGradients(model), batches, output=path,
                              classes=list(shapes.CLASSES), n_steps=4, progress=False)
    features = [ImageFeature("Scene", baseline_transforms=[lambda x: x * 0],
                             input_transforms=[])]
    return model, batches, path, store, features


def _visualizer(setting, **kwargs):
    model, batches, path, _store, features = setting
    return AttributionVisualizer.from_store(path, [model], list(shapes.CLASSES), features,
                                            batches, score_func=lambda o: o.softmax(1),
                                            **kwargs)


def test_stored_maps_are_shown_without_recomputing(setting):
    _model, _batches, _path, store, _features = setting
    visualizer = _visualizer(setting)
    example = visualizer.fetch(6).examples[5]
    # the arguments the store was written with (other ones are named: test_store_pages.py)
    settings = visualizer.make_settings("Integrated Gradients",
                                        {"n_steps": 4, "delta_tolerance": None})
    outcome = visualizer.attribute(example, 0, settings)
    assert outcome.wire["warning"] == "stored map (not recomputed)"
    torch.testing.assert_close(outcome.attributions[0][0],
                               store.attributions([example.position])[0][0], rtol=0, atol=0)
    # another class, or another method: computed live with the model
    default = visualizer.default_target(example, 0)
    live = visualizer.attribute(example, 0, settings, target=(default + 1) % 5)
    assert live.wire["warning"] is None and live.wire["error"] is None
    saliency = visualizer.attribute(example, 0, visualizer.make_settings("Saliency"))
    assert saliency.wire["warning"] is None and saliency.attributions is not None


def test_a_store_of_another_model_is_refused(setting):
    _model, batches, path, _store, features = setting
    with pytest.raises(ValueError, match="different model"):
        AttributionVisualizer.from_store(path, [shortcut.load_model()], list(shapes.CLASSES),
                                         features, batches)


def test_from_attributions_shows_tensors_computed_elsewhere(setting):
    model, batches, _path, _store, features = setting
    maps = {2: torch.randn(3, 32, 32)}
    visualizer = AttributionVisualizer.from_attributions(maps, "Saliency", [model],
                                                         list(shapes.CLASSES), features, batches)
    examples = visualizer.fetch(4).examples
    settings = visualizer.make_settings("Saliency")
    shown = visualizer.attribute(examples[2], 0, settings)
    assert shown.wire["warning"] == "stored map (not recomputed)"
    torch.testing.assert_close(shown.attributions[0][0], maps[2])
    assert visualizer.attribute(examples[1], 0, settings).wire["warning"] is None
