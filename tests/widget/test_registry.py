"""Every registered method resolves from insight_widget.attr and runs through the visualiser
on a small CNN, a multi-modal model (one modality held fixed) and a tabular model."""

from __future__ import annotations

import inspect

import pytest
import torch

from insight_widget import AttributionVisualizer, Batch, GeneralFeature
from insight_widget.widget.registry import METHODS, Argument, find_method
from insight_widget.widget.wire import decode_tensor

from .conftest import make_cifar_visualizer
from .small_models import TinyTabular, seeded
from .test_insights_compat import make_vqa_visualizer

#: keep each run small; every other argument keeps its UI default
SMALL = {"n_steps": 4, "n_samples": 6, "nt_samples": 2, "perturbations_per_eval": 64}


def small_arguments(spec):
    return {a.name: SMALL[a.name] for a in spec.arguments if a.name in SMALL}


def check_result(wire):
    assert wire["error"] is None, wire["error"]
    tensors = [decode_tensor(w) for w in wire["attribution"] if w is not None]
    if wire["layer"] is not None:
        tensors.append(decode_tensor(wire["layer"]["values"]))
    assert tensors, "no attribution came back"
    assert all(torch.isfinite(t).all() for t in tensors)


def test_every_registered_method_resolves_from_the_engine():
    missing = [spec.class_name for spec in METHODS if spec.resolve() is None]
    assert missing == [], f"engine classes not in insight_widget.attr yet: {missing}"


def test_method_names_and_aliases_are_unique():
    names = [n for spec in METHODS for n in {spec.name, spec.class_name, *spec.aliases}]
    assert len(names) == len(set(names))
    assert find_method("IntegratedGradients") is find_method("Integrated Gradients")


@pytest.mark.parametrize("spec", METHODS, ids=lambda s: s.class_name)
def test_declared_call_roles_match_the_engine_signature(spec):
    """The visualiser builds every call from these declarations alone (no signature
    inspection at run time), so each must agree with the engine class it names."""
    engine = spec.resolve()
    parameters = inspect.signature(engine.attribute).parameters
    init = inspect.signature(engine.__init__).parameters
    # a wrapper (NoiseTunnel) forwards target and baselines to the method it wraps
    wraps = any(a.role == "base" for a in spec.arguments)
    if not wraps:
        assert spec.target == ("target" in parameters), spec.name
        assert (spec.baselines != "none") == ("baselines" in parameters), spec.name
    assert spec.delta == ("return_convergence_delta" in parameters), spec.name
    for argument in spec.arguments:
        if argument.role == "attribute":
            assert argument.name in parameters, argument.name
        if argument.role == "init":
            assert argument.name in init, argument.name
    if spec.needs_layer:
        assert "layer" in init


def test_a_wrapper_takes_its_baselines_from_the_wrapped_method():
    tunnel = find_method("Noise Tunnel")
    assert tunnel.wrapped({"base_method": "Integrated Gradients"}).baselines == "single"
    assert tunnel.wrapped({"base_method": "Saliency"}).baselines == "none"
    assert find_method("Saliency").wrapped({}) is None


@pytest.fixture(scope="module")
def cifar():
    visualizer = make_cifar_visualizer()
    return visualizer, visualizer.fetch(1).examples[0]


@pytest.mark.parametrize("spec", METHODS, ids=lambda s: s.class_name)
def test_every_registered_method_runs_on_a_small_cnn(spec, cifar):
    cifar, example = cifar
    assert spec in cifar.methods, f"{spec.name} is not offered for a float-input CNN"
    settings = cifar.make_settings(spec.name, small_arguments(spec))
    check_result(cifar.attribute(example, 0, settings).wire)


@pytest.fixture(scope="module")
def vqa():
    visualizer = make_vqa_visualizer()
    return visualizer, visualizer.fetch(1).examples[0]


# Guided Grad-CAM maps a convolution's spatial output onto inputs of the same layout, so it has
# nothing to say about the question; tested separately below
@pytest.mark.parametrize("spec", [s for s in METHODS if s.output == "input"
                                  and s.class_name != "GuidedGradCam"],
                         ids=lambda s: s.class_name)
def test_input_methods_run_with_one_modality_held_fixed(spec, vqa):
    vqa, example = vqa
    settings = vqa.make_settings(spec.name, small_arguments(spec), active=[False, True])
    wire = vqa.attribute(example, 0, settings).wire
    check_result(wire)
    assert wire["attribution"][0] is None and wire["attribution"][1]["shape"] == [7]


def test_perturbation_and_gradient_methods_run_on_tabular_rows():
    data = [Batch(torch.rand(4, 5), torch.tensor([0, 1, 2, 0]))]
    viz = AttributionVisualizer(seeded(TinyTabular()), ["a", "b", "c"],
                                GeneralFeature("row", list("vwxyz")), data)
    example = viz.fetch(1).examples[0]
    for name in ("Integrated Gradients", "Feature Ablation", "Kernel Shap", "Occlusion"):
        spec = find_method(name)
        wire = viz.attribute(example, 0, viz.make_settings(name, small_arguments(spec))).wire
        check_result(wire)
        assert wire["attribution"][0]["shape"] == [5]


def test_exact_shapley_values_refuse_too_many_groups_with_advice(cifar):
    cifar, example = cifar
    settings = cifar.make_settings("Shapley Values", {"patch_size": 4})
    wire = cifar.attribute(example, 0, settings).wire
    assert "Shapley Value Sampling" in wire["error"] and "64 feature groups" in wire["error"]


def test_argument_schema_parses_and_checks_ranges():
    steps = Argument("n_steps", "int", 25, minimum=2)
    assert steps.parse("7") == 7
    with pytest.raises(ValueError, match="`n_steps` must be >= 2"):
        steps.parse(1)
    with pytest.raises(TypeError, match="`n_steps` must be an integer"):
        steps.parse(2.5)
    rule = find_method("Integrated Gradients").argument("method")
    with pytest.raises(ValueError, match="must be one of"):
        rule.parse("simpson")


def test_guided_grad_cam_explains_the_picture_and_says_why_the_question_gets_nothing(vqa):
    vqa, example = vqa
    with pytest.warns(UserWarning, match="cannot be upsampled"):  # Captum's warning, kept
        both = vqa.attribute(example, 0, vqa.make_settings("Guided Grad Cam")).wire
    assert both["error"] is None and both["attribution"][0]["shape"] == [16, 16]
    assert both["attribution"][1] is None and "Question" in both["warning"]
    question_only = vqa.make_settings("Guided Grad Cam", active=[False, True])
    with pytest.warns(UserWarning, match="cannot be upsampled"):
        wire = vqa.attribute(example, 0, question_only).wire
    assert wire["error"] is None and wire["attribution"] == [None, None]
    assert "no attribution for Question" in wire["warning"]
