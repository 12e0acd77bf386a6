"""The widget driven through its custom messages, as the front end drives it."""

from __future__ import annotations

import time

import torch

from insight_widget import AttributionVisualizer, ImageFeature
from insight_widget.widget.wire import decode_tensor

from .conftest import Driver, make_cifar_visualizer
from .small_models import (
    CIFAR_CLASSES,
    RaisesUnderGrad,
    SlowUnderGrad,
    TinyCifarNet,
    cifar_like,
    seeded,
)


def test_fetch_sends_every_example_with_predictions_before_any_attribution(
        cifar_driver: Driver):
    request = cifar_driver.request("fetch", settings={"method": "Integrated Gradients"},
                                   filters={"num_examples": 3})
    replies = [c for c in cifar_driver.replies(request) if c["type"] != "progress"]
    kinds = [c["type"] for c in replies]
    assert kinds[:4] == ["fetch_started", "example", "example", "example"]
    assert kinds[-1] == "done" and set(kinds[4:-1]) == {"result"}
    for message in replies[1:4]:
        assert message["example"]["models"] == [] and message["example"]["predictions"][0]
    final = [(c["example"], c["model"]) for c in replies[4:-1] if not c["result"].get("partial")]
    assert final == [(0, 0), (1, 0), (2, 0)]  # then one final map per (example, model)
    assert cifar_driver.done(request)["state"] == "complete"
    examples = cifar_driver.widget.examples
    assert [e["id"] for e in examples] == [0, 1, 2]
    result = examples[0]["models"][0]
    assert result["error"] is None and result["method"] == "Integrated Gradients"
    assert result["target"] == examples[0]["predictions"][0][0]["index"]
    heat = decode_tensor(result["attribution"][0])
    assert heat.shape == (32, 32) and heat.abs().sum() > 0
    assert isinstance(result["delta"], float)


def test_example_tensors_travel_as_binary_buffers_not_json(cifar_driver: Driver):
    request = cifar_driver.request("fetch", filters={"num_examples": 1})
    content, buffers = next((c, b) for c, b in cifar_driver.sent
                            if c.get("id") == request and c["type"] == "example")
    assert [len(b) for b in buffers] == [32 * 32 * 3]  # uint8 image
    assert ["example", "inputs", 0, "original", "data"] in content["buffer_paths"]
    assert content["example"]["inputs"][0]["original"]["data"] is None
    content, buffers = next((c, b) for c, b in cifar_driver.sent
                            if c.get("id") == request and c["type"] == "result")
    assert [len(b) for b in buffers] == [32 * 32 * 2]  # float16 map
    assert content["result"]["attribution"][0]["data"] is None


def test_method_change_recomputes_the_shown_examples_with_the_new_method(cifar_driver: Driver):
    cifar_driver.request("fetch", filters={"num_examples": 2})
    before = decode_tensor(cifar_driver.widget.examples[0]["models"][0]["attribution"][0])
    request = cifar_driver.request("recompute", settings={"method": "Saliency"})
    results = cifar_driver.replies(request, "result")
    assert [(r["example"], r["model"]) for r in results] == [(0, 0), (1, 0)]
    shown = cifar_driver.widget.examples[0]["models"][0]
    assert shown["method"] == "Saliency"
    assert (decode_tensor(shown["attribution"][0]) >= 0).all()  # abs=True by default
    assert not torch.allclose(decode_tensor(shown["attribution"][0]), before)


def test_target_change_reattributes_one_example_for_the_clicked_class(cifar_driver: Driver):
    cifar_driver.request("fetch", filters={"num_examples": 2})
    first = cifar_driver.widget.examples[0]
    other = first["predictions"][0][1]["index"]
    request = cifar_driver.request("attribute", example=first["id"], model=0, target=other)
    (result,) = cifar_driver.replies(request, "result")
    assert result["result"]["target"] == other
    assert cifar_driver.widget.examples[0]["models"][0]["target"] == other
    assert cifar_driver.widget.examples[1]["models"][0]["target"] != other or \
        cifar_driver.widget.examples[1]["predictions"][0][0]["index"] == other


def test_argument_errors_are_reported_with_the_request_id_and_the_widget_keeps_working(
        cifar_driver: Driver):
    bad = cifar_driver.request("fetch", settings={"method": "Integrated Gradients",
                                                  "arguments": {"n_steps": 1}})
    done = cifar_driver.done(bad)
    assert done["state"] == "error" and "n_steps" in done["message"]
    good = cifar_driver.request("fetch", filters={"num_examples": 1})
    assert cifar_driver.done(good)["state"] == "complete"


def test_an_unknown_request_type_is_answered_with_an_error_naming_it(cifar_driver: Driver):
    request = cifar_driver.request("explode", wait=False)
    done = cifar_driver.done(request)
    assert done["state"] == "error" and "'explode'" in done["message"]
    assert sorted(cifar_driver.widget.session.jobs) == ["attribute", "fetch", "quality",
                                                        "recompute"]


def test_the_examples_on_screen_have_one_copy_on_the_python_side(cifar_driver: Driver):
    """The session stores into the widget's trait (sent once, by the messages), no mirror."""
    cifar_driver.request("fetch", filters={"num_examples": 2})
    session = cifar_driver.widget.session
    assert session.store.get() is cifar_driver.widget.examples
    assert not hasattr(session, "examples")
    assert len(cifar_driver.widget.examples) == 2


def test_a_model_that_raises_shows_its_message_next_to_the_example():
    driver = Driver(make_cifar_visualizer(models=[seeded(TinyCifarNet()),
                                                  RaisesUnderGrad()]))
    request = driver.request("fetch", filters={"num_examples": 2})
    assert driver.done(request)["state"] == "complete"
    for example in driver.widget.examples:
        ok, failed = example["models"]
        assert ok["error"] is None
        assert "model exploded on purpose" in failed["error"]
    again = driver.request("recompute", settings={"method": "Saliency"})
    assert driver.done(again)["state"] == "complete"


def test_cancel_stops_a_long_attribution_quickly():
    driver = Driver(make_cifar_visualizer(models=SlowUnderGrad(0.05)))
    request = driver.request("fetch", wait=False, settings={
        "method": "Integrated Gradients",
        "arguments": {"n_steps": 200, "internal_batch_size": 2}}, filters={"num_examples": 4})
    driver.cancel_running(request)
    finals = [r for r in driver.replies(request, "result")
              if not r["result"].get("partial") and not r["result"].get("stopped")]
    assert len(finals) < 4


def test_a_newer_fetch_supersedes_the_running_one():
    driver = Driver(make_cifar_visualizer(models=SlowUnderGrad(0.05)))
    slow = driver.request("fetch", wait=False, settings={
        "method": "Integrated Gradients",
        "arguments": {"n_steps": 200, "internal_batch_size": 2}}, filters={"num_examples": 4})
    time.sleep(0.2)
    fast = driver.request("fetch", settings={"method": "Saliency"}, filters={"num_examples": 1})
    assert driver.done(slow)["state"] == "superseded"
    assert driver.done(fast)["state"] == "complete"
    assert [e["models"][0]["method"] for e in driver.widget.examples] == ["Saliency"]


def test_a_filter_that_matches_nothing_ends_with_a_message_instead_of_looping():
    endless = (batch for _ in iter(int, 1) for batch in cifar_like(1))
    driver = Driver(make_cifar_visualizer(dataset=endless))
    request = driver.request("fetch", filters={"classes": ["cat"], "prediction": "correct",
                                               "max_batches": 5, "num_examples": 4})
    done = driver.done(request)
    # random labels and images: the tiny net is never right about "cat" on all of them
    assert done["found"] == 0 and done["scanned"] == 20
    assert "No example matches" in done["message"] and "cat" in done["message"]


def test_unlabeled_examples_are_shown_not_dropped():
    driver = Driver(make_cifar_visualizer(dataset=cifar_like(1, labeled=False)))
    request = driver.request("fetch", filters={"num_examples": 3})
    assert driver.done(request)["found"] == 3
    assert all(e["label"] is None for e in driver.widget.examples)
    assert all(e["models"][0]["error"] is None for e in driver.widget.examples)


def test_dataset_end_is_reported_and_the_next_fetch_starts_over():
    driver = Driver(make_cifar_visualizer(dataset=cifar_like(2, batch_size=3)))
    first = driver.request("fetch", filters={"num_examples": 4})
    assert driver.done(first)["dataset_end"] is False
    second = driver.request("fetch", filters={"num_examples": 4})
    done = driver.done(second)
    assert done["dataset_end"] is True and done["found"] == 2
    assert "End of the dataset" in done["message"]
    third = driver.request("fetch", filters={"num_examples": 4})
    assert driver.done(third)["found"] == 4
    assert [e["position"] for e in driver.widget.examples] == [6, 7, 8, 9]


def test_modalities_held_fixed_get_no_attribution_and_contributions_cover_the_active_ones():
    from .test_insights_compat import make_vqa_visualizer

    driver = Driver(make_vqa_visualizer())
    request = driver.request("fetch", settings={"method": "Integrated Gradients",
                                                "active": [False, True]},
                             filters={"num_examples": 1})
    assert driver.done(request)["state"] == "complete"
    result = driver.widget.examples[0]["models"][0]
    assert result["attribution"][0] is None and result["contributions"][0] is None
    assert result["attribution"][1] is not None and result["contributions"][1] != 0


def test_switching_back_to_an_earlier_setting_is_served_from_the_cache(cifar_driver: Driver):
    cifar_driver.request("fetch", filters={"num_examples": 1})
    first = cifar_driver.widget.examples[0]["models"][0]
    cifar_driver.request("recompute", settings={"method": "Saliency"})
    again = cifar_driver.request("recompute", settings={"method": "Integrated Gradients"})
    (reply,) = cifar_driver.replies(again, "result")
    shown = cifar_driver.widget.examples[0]["models"][0]
    assert reply["result"]["cached"] is True and shown["cached"] is True
    assert shown["attribution"] is first["attribution"] and "cached" not in first


def test_greyscale_images_are_sent_with_one_channel():
    driver = Driver(make_cifar_visualizer(
        models=seeded(TinyCifarNet(in_channels=1)), dataset=cifar_like(1, channels=1)))
    driver.request("fetch", filters={"num_examples": 1})
    original = driver.widget.examples[0]["inputs"][0]["original"]
    assert original["shape"] == [32, 32, 1] and original["dtype"] == "uint8"


def test_spec_lists_methods_with_argument_schemas_and_layers():
    viz = make_cifar_visualizer()
    spec = viz.widget().spec
    names = [m["name"] for m in spec["methods"]]
    assert "Integrated Gradients" in names and "Saliency" in names
    ig = spec["methods"][names.index("Integrated Gradients")]
    n_steps = next(a for a in ig["arguments"] if a["name"] == "n_steps")
    assert n_steps["kind"] == "int" and n_steps["min"] == 2 and ig["has_delta"] is True
    assert spec["layers"][0]["default"] == "conv2"
    assert spec["features"][0]["baselines"][:2] == ["custom 1", "zeros"]


def test_classes_names_are_checked_in_the_filter(cifar_driver: Driver):
    request = cifar_driver.request("fetch", filters={"classes": ["unicorn"]})
    done = cifar_driver.done(request)
    assert done["state"] == "error" and "unicorn" in done["message"]


def test_a_second_model_attributes_its_own_top_prediction():
    other = seeded(TinyCifarNet(), seed=5)
    viz = AttributionVisualizer([seeded(TinyCifarNet()), other], CIFAR_CLASSES,
                                ImageFeature("Photo", None, None), cifar_like())
    driver = Driver(viz)
    driver.request("fetch", filters={"num_examples": 4})
    for example in driver.widget.examples:
        for m in range(2):
            assert example["models"][m]["target"] == example["predictions"][m][0]["index"]


def test_closing_the_widget_ends_its_worker_thread(cifar_driver: Driver):
    cifar_driver.request("fetch", filters={"num_examples": 1})
    thread = cifar_driver.widget.session._thread
    assert thread is not None and thread.is_alive()
    cifar_driver.widget.close()
    thread.join(5)
    assert not thread.is_alive()


def test_a_second_method_is_computed_side_by_side_for_the_same_target(cifar_driver: Driver):
    settings = {"method": "Integrated Gradients",
                "compare": {"method": "Saliency", "arguments": {"abs": False}}}
    cifar_driver.request("fetch", settings=settings, filters={"num_examples": 2})
    for example in cifar_driver.widget.examples:
        (main,), (second,) = example["models"], example["compare"]
        assert main["method"] == "Integrated Gradients" and second["method"] == "Saliency"
        assert second["target"] == main["target"]
        assert (decode_tensor(second["attribution"][0]) < 0).any()  # abs=False was used
    first = cifar_driver.widget.examples[0]
    other = first["predictions"][0][2]["index"]
    request = cifar_driver.request("attribute", example=first["id"], model=0, target=other,
                                   settings=settings)
    (reply,) = cifar_driver.replies(request, "result")
    assert reply["result"]["target"] == other and reply["compare"]["target"] == other
    cifar_driver.request("recompute", settings={"method": "Integrated Gradients"})
    assert cifar_driver.widget.examples[0]["compare"] == [None]
    assert cifar_driver.widget.examples[0]["models"][0]["target"] == other


def test_layer_integrated_gradients_on_token_ids_gives_one_score_per_token():
    from insight_widget import Batch, TextFeature

    class Reviews(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(30, 8)
            self.fc = torch.nn.Linear(8, 2)

        def forward(self, ids):
            return self.fc(self.embedding(ids).mean(1))

    words = [f"t{i}" for i in range(30)]
    ids = torch.randint(1, 30, (3, 6), generator=torch.Generator().manual_seed(3))
    viz = AttributionVisualizer(
        seeded(Reviews()), ["bad", "good"],
        TextFeature("Review", baseline_transforms=None, input_transforms=None,
                    visualization_transform=lambda x: [words[int(i)] for i in x.reshape(-1)]),
        [Batch(ids, torch.tensor([0, 1, 1]))])
    names = [m.name for m in viz.methods]
    assert "Integrated Gradients" not in names  # ids are not differentiable
    driver = Driver(viz)
    request = driver.request("fetch", settings={"method": "Layer Integrated Gradients",
                                                "arguments": {"layer": ["embedding"]}},
                             filters={"num_examples": 1})
    assert driver.done(request)["state"] == "complete"
    example = driver.widget.examples[0]
    layer = example["models"][0]["layer"]
    assert layer["kind"] == "sequence" and layer["name"] == "embedding"
    assert layer["values"]["shape"] == [6] == [len(example["inputs"][0]["tokens"])]


def test_a_long_scan_reports_progress_per_batch_and_can_be_cancelled():
    class SlowBatches:
        def __iter__(self):
            for batch in cifar_like(40, batch_size=2):
                time.sleep(0.05)
                yield batch

    driver = Driver(make_cifar_visualizer(dataset=SlowBatches()))
    request = driver.request("fetch", wait=False, filters={"classes": ["cat"],
                                                           "prediction": "correct",
                                                           "max_batches": 40})
    time.sleep(0.6)
    driver.request("cancel", request=request)
    assert driver.widget.session.wait(10)
    labels = [m["label"] for m in driver.replies(request, "progress")]
    assert labels and labels[0].startswith("reading batch") and "of at most 40" in labels[0]
    assert driver.done(request)["state"] == "cancelled"


ANYTIME = {"method": "Integrated Gradients",
           # a tolerance no 32-node budget meets (this random net reaches the float32 floor of
           # the rule near 64 nodes): every example refines round after round
           "arguments": {"n_steps": 32, "delta_tolerance": 1e-6, "internal_batch_size": 4}}


def test_anytime_maps_stream_each_round_with_delta_and_steps_before_the_final_one(
        cifar_driver: Driver):
    request = cifar_driver.request("fetch", settings=ANYTIME, filters={"num_examples": 1})
    results = [r["result"] for r in cifar_driver.replies(request, "result")]
    *partials, final = results
    assert partials and all(p["partial"] is True for p in partials)
    assert "partial" not in final and final["steps"] <= 32 and final["converged"] is False
    steps = [p["steps"] for p in partials] + [final["steps"]]
    assert steps == sorted(steps) and steps[0] < final["steps"]
    for shown in results:
        assert shown["attribution"][0]["shape"] == [32, 32]  # bytes went as buffers
        # relative delta = |delta| / |F(x) - F(x')|, with F(x) - F(x') = sum(attr) - delta
        change = shown["contributions"][0] - shown["delta"]
        assert abs(shown["relative_delta"] - abs(shown["delta"]) / abs(change)) < 1e-6
    stored = cifar_driver.widget.examples[0]["models"][0]
    assert "partial" not in stored and stored["steps"] == final["steps"]


def test_the_first_anytime_map_is_sent_as_soon_as_the_first_round_is_evaluated(monkeypatch):
    from insight_widget.widget import session

    model = SlowUnderGrad(0.0)  # no delay; the hook below counts gradient evaluations
    evaluations = []
    model.register_forward_hook(lambda *_: evaluations.append(torch.is_grad_enabled()))
    at_partial = []
    send = session.PartialMaps.__call__

    def recording(self, wire):
        at_partial.append((wire["steps"], sum(evaluations)))
        send(self, wire)

    monkeypatch.setattr(session.PartialMaps, "__call__", recording)
    driver = Driver(make_cifar_visualizer(models=model))
    driver.request("fetch", settings=ANYTIME, filters={"num_examples": 1})
    # the first round (3 nodes, one chunk under internal_batch_size 4) is shown before the
    # second round's evaluation starts
    assert at_partial[0] == (3, 1)


def test_cancelling_mid_refinement_keeps_the_last_map_marked_unconverged():
    driver = Driver(make_cifar_visualizer(models=SlowUnderGrad(0.05)))
    request = driver.request("fetch", wait=False, settings=ANYTIME, filters={"num_examples": 1})
    deadline = time.monotonic() + 10
    while not driver.replies(request, "result") and time.monotonic() < deadline:
        time.sleep(0.02)
    driver.request("cancel", request=request)
    assert driver.widget.session.wait(10)
    assert driver.done(request)["state"] == "cancelled"
    last = driver.replies(request, "result")[-1]["result"]
    assert last["stopped"] is True and last["converged"] is False and not last["partial"]
    assert last["steps"] < 32 and last["attribution"][0] is not None
    stored = driver.widget.examples[0]["models"][0]
    assert stored["stopped"] is True and stored["steps"] == last["steps"]


def test_a_target_change_among_the_top_predictions_computes_them_together_then_uses_the_cache(
        cifar_driver: Driver):
    settings = {"method": "Saliency", "arguments": {"abs": False}}
    cifar_driver.request("fetch", settings=settings, filters={"num_examples": 1})
    example = cifar_driver.widget.examples[0]
    top = [p["index"] for p in example["predictions"][0]]
    first = cifar_driver.request("attribute", example=example["id"], model=0, target=top[1],
                                 settings=settings)
    (reply,) = cifar_driver.replies(first, "result")
    assert reply["result"]["shared_targets"] == len(top) and "cached" not in reply["result"]
    switched = {}
    for target in top[2:]:
        request = cifar_driver.request("attribute", example=example["id"], model=0,
                                       target=target, settings=settings)
        (reply,) = cifar_driver.replies(request, "result")
        assert reply["result"]["cached"] is True and reply["result"]["target"] == target
        switched[target] = decode_tensor(cifar_driver.widget.examples[0]["models"][0]
                                         ["attribution"][0])
    # each shared map equals the one computed for its target alone
    viz = cifar_driver.visualizer
    alone = viz.attribute(viz.example(example["id"]), 0,
                          viz.request_settings(settings)[0], top[2])
    # equal up to the wire's float16 rounding (one unit in the last place of the scaled map:
    # the batched backward may round float32 sums differently, flipping a float16 rounding)
    scale = alone.wire["attribution"][0]["scale"]
    assert torch.allclose(decode_tensor(alone.wire["attribution"][0]), switched[top[2]],
                          rtol=0, atol=scale * 2.0 ** -10)


def test_perturbation_maps_fill_in_as_chunks_finish(cifar_driver: Driver, monkeypatch):
    from insight_widget.widget import session

    monkeypatch.setattr(session, "PARTIAL_INTERVAL", 0.0)  # send every chunk's map
    settings = {"method": "Feature Ablation",  # 8x8 patches of 32x32: 16 groups, 2 per pass
                "arguments": {"patch_size": 8, "perturbations_per_eval": 2}}
    request = cifar_driver.request("fetch", settings=settings, filters={"num_examples": 1})
    results = [r["result"] for r in cifar_driver.replies(request, "result")]
    *partials, final = results
    assert len(partials) == 7 and all(p["partial"] for p in partials)  # after chunks 1..7
    assert "partial" not in final
    # each partial's contribution (sum of the map) comes from the groups done so far
    assert len({p["contributions"][0] for p in partials}) > 1


def test_speed_options_run_under_autocast_and_show_the_error_they_cause(cifar_driver: Driver):
    settings = {"method": "Saliency", "arguments": {"abs": False},
                "speed": {"autocast": True, "channels_last": True}}
    request = cifar_driver.request("fetch", settings=settings, filters={"num_examples": 2})
    assert cifar_driver.done(request)["state"] == "complete"
    first, second = (e["models"][0] for e in cifar_driver.widget.examples)
    measured = first["speed_error"]
    # bfloat16 keeps 8 mantissa bits: relative errors ~2**-8 per operation; through a small
    # CNN's few layers the map moves by more than float16's wire rounding (~1e-3) and far
    # less than its own size
    assert 1e-3 < measured["relative"] < 0.5
    assert measured["seconds"] > 0 and measured["reference_seconds"] > 0
    assert "speed_error" not in second  # measured once per request
    # the full-precision reference computed for the measurement is what "off" shows
    off = cifar_driver.request("recompute", settings={**settings, "speed": {}})
    assert cifar_driver.replies(off, "result")[0]["result"]["cached"] is True


def test_unknown_or_non_boolean_speed_options_are_refused_by_name(cifar_driver: Driver):
    bad = cifar_driver.request("fetch", settings={"method": "Saliency",
                                                  "speed": {"turbo": True}})
    assert "turbo" in cifar_driver.done(bad)["message"]
    bad = cifar_driver.request("fetch", settings={"method": "Saliency",
                                                  "speed": {"autocast": "yes"}})
    message = cifar_driver.done(bad)["message"]
    assert "speed['autocast']" in message and "bool" in message
