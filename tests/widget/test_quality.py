"""The per-example quality panel: the "quality" request, its streamed parts, cancel, errors."""

from __future__ import annotations

import time

import torch

from insight_widget.attr import Saliency
from insight_widget.metrics import deletion, infidelity, insertion
from insight_widget.widget import quality

from .conftest import Driver, make_cifar_visualizer
from .small_models import SlowUnderGrad

SALIENCY = {"method": "Saliency"}


def fetched(driver: Driver, settings=SALIENCY) -> dict:
    driver.request("fetch", settings=settings, filters={"num_examples": 1})
    return driver.widget.examples[0]


def test_quality_streams_one_message_per_metric_in_order_then_done(cifar_driver: Driver):
    example = fetched(cifar_driver)
    request = cifar_driver.request("quality", example=example["id"], model=0,
                                   target=example["models"][0]["target"], settings=SALIENCY)
    parts = cifar_driver.replies(request, "quality")
    assert [p["part"] for p in parts] == list(quality.PARTS)
    assert all(p["error"] is None for p in parts if "error" in p)
    assert all(isinstance(p["value"], float) for p in parts)
    assert {(p["example"], p["model"], p["method"]) for p in parts} == {(example["id"], 0,
                                                                         "Saliency")}
    assert cifar_driver.done(request)["state"] == "complete"
    kinds = [c["type"] for c in cifar_driver.replies(request) if c["type"] != "progress"]
    assert kinds[-1] == "done"


def test_curves_travel_as_float32_buffers_and_match_the_metrics_run_directly(
        cifar_driver: Driver):
    example = fetched(cifar_driver)
    target = example["models"][0]["target"]
    request = cifar_driver.request("quality", example=example["id"], model=0, target=target,
                                   settings=SALIENCY)
    sent = [(c, b) for c, b in cifar_driver.sent
            if c.get("id") == request and c["type"] == "quality" and c["part"] == "deletion"]
    (content, buffers), = sent
    assert content["buffer_paths"] == [["curve", "data"]]
    assert content["curve"]["dtype"] == "float32"
    # the same map, metric and target computed here, outside the widget
    viz = cifar_driver.visualizer
    inputs = viz.example(example["id"]).inputs[0]
    model = viz.models[0]
    attributions = Saliency(model).attribute(inputs, target=target)
    expected = deletion(model, inputs, attributions, target=target)
    curve = torch.frombuffer(bytearray(buffers[0]), dtype=torch.float32)
    torch.testing.assert_close(curve, expected.curve[0])  # float32 end to end
    assert content["value"] == float(expected.auc[0])
    expected_insertion = insertion(model, inputs, attributions, target=target)
    part = next(p for p in cifar_driver.replies(request, "quality") if p["part"] == "insertion")
    assert part["value"] == float(expected_insertion.auc[0])
    # infidelity: the request's seeded Gaussian perturbations, normalised (scale-free)
    perturb = quality._gaussian_perturbation(torch.Generator().manual_seed(quality.SEED))
    expected_infidelity = infidelity(model, perturb, inputs, attributions, target=target,
                                     n_perturb_samples=quality.SAMPLES, normalize=True)
    part = next(p for p in cifar_driver.replies(request, "quality") if p["part"] == "infidelity")
    assert part["value"] == float(expected_infidelity[0])


def test_asking_again_gives_the_same_numbers(cifar_driver: Driver):
    example = fetched(cifar_driver)
    values = []
    for _ in range(2):
        request = cifar_driver.request("quality", example=example["id"], model=0,
                                       settings=SALIENCY)
        values.append([p["value"] for p in cifar_driver.replies(request, "quality")])
    assert values[0] == values[1]


def test_the_compared_method_is_measured_when_asked(cifar_driver: Driver):
    settings = {**SALIENCY, "compare": {"method": "Input X Gradient", "arguments": {}}}
    example = fetched(cifar_driver, settings)
    request = cifar_driver.request("quality", example=example["id"], model=0, compare=True,
                                   settings=settings)
    parts = cifar_driver.replies(request, "quality")
    assert {p["method"] for p in parts} == {"Input X Gradient"} and parts[0]["compare"] is True
    bad = cifar_driver.request("quality", example=example["id"], model=0, compare=True,
                               settings=SALIENCY)
    assert "compare" in cifar_driver.done(bad)["message"]


def test_a_layer_method_is_refused_with_a_clear_error_and_the_widget_keeps_working(
        cifar_driver: Driver):
    settings = {"method": "Layer Grad Cam"}
    example = fetched(cifar_driver, settings)
    request = cifar_driver.request("quality", example=example["id"], model=0, settings=settings)
    done = cifar_driver.done(request)
    assert done["state"] == "error" and "input method" in done["message"]
    assert cifar_driver.replies(request, "quality") == []
    bad_model = cifar_driver.request("quality", example=example["id"], model=3,
                                     settings=SALIENCY)
    assert "`model`" in cifar_driver.done(bad_model)["message"]
    good = cifar_driver.request("quality", example=example["id"], model=0, settings=SALIENCY)
    assert cifar_driver.done(good)["state"] == "complete"


def test_a_failing_part_reports_its_error_and_the_next_parts_still_run(cifar_driver: Driver,
                                                                        monkeypatch):
    example = fetched(cifar_driver)

    def broken(*args, **kwargs):
        raise RuntimeError("no curve today")

    monkeypatch.setattr(quality, "insertion", broken)
    request = cifar_driver.request("quality", example=example["id"], model=0, settings=SALIENCY)
    parts = {p["part"]: p for p in cifar_driver.replies(request, "quality")}
    assert parts["insertion"]["value"] is None
    assert parts["insertion"]["error"] == "RuntimeError: no curve today"
    assert isinstance(parts["infidelity"]["value"], float)
    assert cifar_driver.done(request)["state"] == "complete"


def test_cancel_stops_a_quality_request_and_no_part_follows_done():
    driver = Driver(make_cifar_visualizer(models=SlowUnderGrad(0.05)))
    settings = {"method": "Integrated Gradients",
                "arguments": {"n_steps": 200, "internal_batch_size": 2}}
    driver.request("fetch", settings=SALIENCY, filters={"num_examples": 1})
    request = driver.request("quality", wait=False, example=0, model=0, settings=settings)
    driver.cancel_running(request)
    kinds = [c["type"] for c in driver.replies(request)]
    assert "quality" not in kinds[kinds.index("done"):]


def test_a_quality_request_leaves_the_running_target_change_alone_and_a_fetch_supersedes_it():
    driver = Driver(make_cifar_visualizer(models=SlowUnderGrad(0.02)))
    example = fetched(driver)
    other = example["predictions"][0][1]["index"]
    change = driver.request("attribute", wait=False, example=0, model=0, target=other,
                            settings=SALIENCY)
    measured = driver.request("quality", wait=False, example=0, model=0, settings={
        "method": "Integrated Gradients", "arguments": {"n_steps": 200,
                                                        "internal_batch_size": 2}})
    time.sleep(0.3)
    newer = driver.request("fetch", settings=SALIENCY, filters={"num_examples": 1})
    assert driver.done(change)["state"] == "complete"
    assert driver.done(measured)["state"] == "superseded"
    assert driver.done(newer)["state"] == "complete"


def test_two_modalities_one_held_fixed_are_measured_through_the_same_model_call():
    from .test_insights_compat import make_vqa_visualizer

    driver = Driver(make_vqa_visualizer())
    settings = {"method": "Integrated Gradients", "active": [False, True]}
    example = fetched(driver, settings)
    target = example["models"][0]["target"]
    request = driver.request("quality", example=example["id"], model=0, target=target,
                             settings=settings)
    assert driver.done(request)["state"] == "complete"
    parts = {p["part"]: p for p in driver.replies(request, "quality")}
    assert all(parts[name].get("error") is None for name in quality.PARTS)
    # step 0 of the deletion curve is the model's probability of the target on the example as
    # it is: the picture held fixed and the additional argument were passed through
    prepared = driver.visualizer.example(example["id"])
    with torch.no_grad():
        scores = torch.softmax(driver.visualizer.models[0](*prepared.inputs,
                                                           *prepared.additional_args), 1)
    (content, buffers), = [(c, b) for c, b in driver.sent if c.get("id") == request
                           and c["type"] == "quality" and c["part"] == "deletion"]
    curve = torch.frombuffer(bytearray(buffers[0]), dtype=torch.float32)
    # float32 forward of the same rows, possibly batched differently
    torch.testing.assert_close(curve[0], scores[0, target], rtol=1e-5, atol=1e-6)
    assert curve.shape[0] == content["curve"]["shape"][0] > 2
