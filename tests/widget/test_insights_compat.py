"""Old Captum Insights code (the CIFAR and multimodal VQA tutorial shapes) runs after changing
its imports: construction, render(), visualize() and the config helpers."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from insight_widget import AttributionVisualizer, Batch, ImageFeature, TextFeature
from insight_widget.widget.widget import VisualizerWidget

from .small_models import CIFAR_CLASSES, TinyCifarNet, TinyVQA, cifar_like, seeded

VOCAB = [f"w{i}" for i in range(20)]
ANSWERS = ["yes", "no", "red", "two", "cat"]


def normalize(x):
    """torchvision's Normalize((0.5,)*3, (0.5,)*3) on one (C, H, W) image."""
    return (x - 0.5) / 0.5


def test_cifar_tutorial_code_constructs_and_renders(capsys):
    def baseline_func(input):
        return input * 0

    def formatted_data_iter():
        for batch in cifar_like(2):
            yield Batch(inputs=batch.inputs, labels=batch.labels)

    model = seeded(TinyCifarNet())
    visualizer = AttributionVisualizer(
        models=[model],
        score_func=lambda o: F.softmax(o, 1),
        classes=CIFAR_CLASSES,
        features=[ImageFeature("Photo", baseline_transforms=[baseline_func],
                               input_transforms=[normalize])],
        dataset=formatted_data_iter(),
    )
    assert visualizer.render() is None  # displayed once, nothing returned (as in Insights)
    widget = visualizer.widget()
    assert isinstance(widget, VisualizerWidget)
    assert widget.spec["classes"] == CIFAR_CLASSES
    assert widget.spec["features"][0] == {"name": "Photo", "type": "image",
                                          "baselines": ["baseline_func", "zeros", "blur",
                                                        "noise", "mean"]}
    outputs = visualizer.visualize()
    assert len(outputs) == 4 and all(len(row) == 1 for row in outputs)
    first = outputs[0][0]
    assert first.model_index == 0 and first.active_index == first.predicted[0].index
    assert first.feature_outputs[0].type == "image"
    assert abs(first.feature_outputs[0].contribution) == 1.0


def make_vqa_visualizer(**kwargs):
    model = seeded(TinyVQA())

    def itos(input):
        return [VOCAB[int(i)] for i in input.reshape(-1)]

    def to_embeddings(ids):
        return model.embedding(ids).detach()

    def baseline_image(x):
        return x * 0

    def baseline_text(x):
        return model.embedding(torch.zeros(x.shape[0], dtype=torch.long)).detach()

    generator = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(2):
        images = torch.rand(2, 3, 16, 16, generator=generator)
        questions = torch.randint(1, 20, (2, 7), generator=generator)
        q_len = torch.tensor([7, 5])
        answers = torch.randint(0, 5, (2,), generator=generator)
        batches.append(Batch(inputs=(images, questions), labels=(answers,),
                             additional_args=q_len))
    options = dict(
        models=[model], score_func=lambda o: F.softmax(o, 1), classes=ANSWERS,
        features=[ImageFeature("Picture", baseline_transforms=[baseline_image],
                               input_transforms=[]),
                  TextFeature("Question", input_transforms=[to_embeddings],
                              baseline_transforms=[baseline_text], visualization_transform=itos)],
        dataset=batches)
    options.update(kwargs)
    return AttributionVisualizer(**options)


def test_vqa_tutorial_code_constructs_renders_and_attributes_both_modalities(capsys):
    visualizer = make_vqa_visualizer()
    visualizer.render()
    widget = visualizer.widget()
    assert [f["type"] for f in widget.spec["features"]] == ["image", "text"]
    visualizer._update_config({"attribution_method": "Integrated Gradients",
                               "arguments": {"n_steps": 10, "method": "gausslegendre"},
                               "prediction": "all", "classes": []})
    outputs = visualizer.visualize()
    assert len(outputs) == 4
    picture, question = outputs[0][0].feature_outputs
    assert question.base["tokens"] and len(question.base["tokens"]) == 7
    assert question.modified["shape"] == [7]
    assert abs(abs(picture.contribution) + abs(question.contribution) - 1.0) < 1e-6


def test_insights_config_lists_methods_and_their_arguments():
    visualizer = make_vqa_visualizer()
    config = visualizer.get_insights_config()
    assert config["selected_method"] == "Integrated Gradients"
    assert config["classes"] == ANSWERS
    ig = config["method_arguments"]["Integrated Gradients"]
    # Insights offered n_steps (25); ours opens in the anytime mode: n_steps is the node budget
    # and delta_tolerance the convergence target (empty: exactly n_steps nodes, as Insights).
    assert ig["n_steps"]["default"] == 64
    assert ig["delta_tolerance"]["default"] == 0.01


def test_target_from_the_cache_attributes_the_requested_class():
    visualizer = make_vqa_visualizer()
    visualizer.visualize()
    output = visualizer._calculate_attribution_from_cache(0, 0, torch.tensor(3))
    assert output.active_index == 3


def test_render_opens_the_side_panel_in_jupyterlab_and_falls_back_inline_elsewhere(
        monkeypatch):
    import insight_widget.widget.display as display_module

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    visualizer = make_vqa_visualizer()
    widget = visualizer.widget()
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert visualizer.render(side_panel=True) is None
    assert widget.side_panel is None and widget.in_side_panel is False
    assert shown == [widget]  # inline, once
    monkeypatch.setenv("JPY_SESSION_NAME", "/tmp/notebook.ipynb")
    monkeypatch.delenv("SERVER_SOFTWARE", raising=False)
    for key in [k for k in __import__("os").environ if k.startswith("VSCODE_")]:
        monkeypatch.delenv(key)
    assert display_module.side_panel_supported()
    shown.clear()
    visualizer.render(side_panel=True, title="VQA")
    assert type(widget.side_panel).__name__ == "Sidecar"
    assert widget.side_panel.title == "VQA"
    # shown in the panel and once inline, where its view stands aside while the panel's view
    # exists (and takes over where the host has no side area)
    assert shown == [widget, widget] and widget.in_side_panel is True
    monkeypatch.setenv("SERVER_SOFTWARE", "voila/0.5.13")
    widget.side_panel = None
    visualizer.render(side_panel=True)
    assert widget.side_panel is None and widget.in_side_panel is False
