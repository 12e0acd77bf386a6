"""The generation view (LLMAttributionVisualizer) driven through its custom messages, as the
front end drives it: on the demo LM and on a transformers GPT-2 built from a seeded config."""

from __future__ import annotations

import json
import random

import pytest
import torch

from insight_widget import LLMAttributionVisualizer
from insight_widget.attr import FeatureAblation, LLMAttribution, TextTokenInput
from insight_widget.examples import llm
from insight_widget.widget.wire import decode_tensor

from ..attr.llm.models import tiny_gpt2, tiny_tokenizer
from .conftest import Driver

PROMPT = "the capital of france is"


@pytest.fixture(scope="module")
def demo():
    return llm.load_model(), llm.load_tokenizer()


@pytest.fixture
def driver(demo) -> Driver:
    model, tokenizer = demo
    return Driver(LLMAttributionVisualizer(model, tokenizer, prompts=[PROMPT]))


def settings(**overrides):
    return {"method": "Feature Ablation", "prompt": PROMPT, "target": "paris .", **overrides}


def rows_of(record) -> torch.Tensor:
    return torch.cat([decode_tensor(c["rows"]) for c in record["chunks"]])


def test_spec_names_the_llm_methods_options_and_prompts(driver: Driver):
    spec = driver.widget.spec
    assert spec["kind"] == "llm" and spec["llm"]["prompts"] == [PROMPT]
    assert [m["name"] for m in spec["methods"]] == [
        "Feature Ablation", "Shapley Value Sampling", "Lime", "Kernel Shap",
        "Layer Integrated Gradients", "Layer Gradient X Activation"]
    assert spec["llm"]["granularities"] == ["tokens", "words", "segments"]


def test_generate_replies_with_the_greedy_continuation(driver: Driver, demo):
    request = driver.request("generate", prompt=PROMPT, max_new_tokens=1)
    (reply,) = driver.replies(request, "generated")
    assert reply["target"] == llm.complete(*demo, PROMPT) == "paris"
    assert driver.done(request)["state"] == "complete"


def test_attribute_streams_rows_per_chunk_equal_to_one_engine_call(driver: Driver, demo):
    model, tokenizer = demo
    request = driver.request("attribute", settings=settings(rows_per_chunk=1))
    kinds = [c["type"] for c in driver.replies(request) if c["type"] != "progress"]
    assert kinds == ["llm_started", "llm_rows", "llm_rows", "llm_result", "done"]
    chunks = driver.replies(request, "llm_rows")
    assert [c["start"] for c in chunks] == [0, 1]
    assert [c["output_tokens"] for c in chunks] == [["paris"], ["."]]
    record = driver.widget.generation
    assert record["input_tokens"] == ["the", "capital", "of", "france", "is"]
    expected = LLMAttribution(FeatureAblation(model), tokenizer).attribute(
        TextTokenInput(PROMPT, tokenizer, baselines=tokenizer.pad_token_id,
                       skip_tokens=[tokenizer.bos_token_id]), target="paris .")
    # float32 sums of the same log-probabilities in a different grouping
    torch.testing.assert_close(rows_of(record), expected.token_attr, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(decode_tensor(record["seq_attr"]), expected.seq_attr,
                               atol=1e-5, rtol=1e-5)
    assert expected.seq_attr[3] > expected.seq_attr[:3].abs().max()  # "france" -> "paris"


def test_rows_travel_as_binary_buffers(driver: Driver):
    request = driver.request("attribute", settings=settings())
    content, buffers = next((c, b) for c, b in driver.sent
                            if c.get("id") == request and c["type"] == "llm_rows")
    assert ["rows", "data"] in content["buffer_paths"]
    assert [len(b) for b in buffers][:1] == [2 * 5 * 4]  # (T=2, M=5) float32
    (result,) = driver.replies(request, "llm_result")
    assert "chunks" not in result["record"]  # the rows cross the wire once
    assert result["buffer_paths"] == [["record", "seq_attr", "data"]]


@pytest.mark.parametrize("method,arguments", [
    ("Shapley Value Sampling", {"n_samples": 2}), ("Lime", {"n_samples": 20}),
    ("Layer Integrated Gradients", {"n_steps": 4}), ("Layer Gradient X Activation", {})])
def test_every_method_runs_with_its_form_arguments(driver: Driver, method, arguments):
    request = driver.request("attribute", settings=settings(method=method, arguments=arguments))
    assert driver.done(request)["state"] == "complete", driver.done(request)
    record = driver.widget.generation
    assert record["method"] == method and decode_tensor(record["seq_attr"]).shape == (5,)
    assert record["sequence_only"] == (method == "Lime")


def test_words_and_segments_are_the_features_with_a_text_baseline(driver: Driver):
    request = driver.request("attribute", settings=settings(
        granularity="segments", prompt="the capital of | france | is", baseline="text",
        baseline_text="italy"))
    assert driver.done(request)["state"] == "complete"
    assert driver.widget.generation["input_tokens"] == ["the capital of ", " france ", " is"]
    request = driver.request("attribute", settings=settings(granularity="words",
                                                            attr_target="prob"))
    record = driver.widget.generation
    assert record["input_tokens"] == PROMPT.split() and record["attr_target"] == "prob"


def test_segment_baselines_with_alternatives_are_drawn_from_their_product(driver: Driver,
                                                                         demo):
    from insight_widget.attr import ProductBaselines, TextTemplateInput

    model, tokenizer = demo
    prompt, target = "the capital of | france | is", "paris"
    # the same draws in the same order: FeatureAblation draws as Captum does (docs/llm.md)
    random.seed(0)
    driver.request("attribute", settings=settings(
        prompt=prompt, target=target, granularity="segments", baseline="text",
        baseline_text="the capital of | italy/spain/peru | is", arguments={"num_trials": 3}))
    assert driver.widget.status["state"] == "complete", driver.widget.status
    shown = decode_tensor(driver.widget.generation["seq_attr"])
    random.seed(0)
    inp = TextTemplateInput("{}{}{}", ["the capital of ", " france ", " is"],
                            baselines=ProductBaselines([["the capital of "],
                                                        [" italy", "spain", "peru "],
                                                        [" is"]]))
    expected = LLMAttribution(FeatureAblation(model), tokenizer).attribute(
        inp, target=target, num_trials=3)
    torch.testing.assert_close(shown, expected.seq_attr, atol=1e-5, rtol=1e-5)
    assert shown[1] > 0 and shown[0] == shown[2] == 0  # only "france" is replaced
    request = driver.request("attribute", settings=settings(
        prompt=prompt, granularity="segments", baseline="text", baseline_text="a | b"))
    assert "has 2 entries separated by '|'" in driver.done(request)["message"]


def test_an_empty_target_is_generated_first(driver: Driver):
    driver.request("attribute", settings=settings(target=""))
    assert driver.widget.generation["output_tokens"][0] == "paris"


@pytest.mark.parametrize("overrides,message", [
    ({"prompt": ""}, "`prompt` must be a non-empty string"),
    ({"granularity": "letters"}, "`granularity` must be one of"),
    ({"method": "Layer Integrated Gradients", "granularity": "words"}, "granularity 'tokens'"),
    ({"baseline": "text", "baseline_text": "two words"}, "must be one token"),
    ({"arguments": {"n_samples": 3}}, "has no argument"),
])
def test_bad_settings_end_in_an_error_reply_and_the_widget_keeps_working(driver, overrides,
                                                                         message):
    request = driver.request("attribute", settings=settings(**overrides))
    done = driver.done(request)
    assert done["state"] == "error" and message in done["message"]
    request = driver.request("attribute", settings=settings())
    assert driver.done(request)["state"] == "complete"


def test_cancel_stops_the_attribution(driver: Driver):
    request = driver.request("attribute", wait=False, settings=settings(
        method="Shapley Value Sampling", arguments={"n_samples": 1000}))
    driver.request("cancel", wait=False)
    assert driver.widget.session.wait(60)
    assert driver.done(request)["state"] == "cancelled"


def test_saved_page_carries_the_generation(driver: Driver, tmp_path):
    from insight_widget.widget.export import state_json

    driver.request("attribute", settings=settings())
    assert '"generation"' in state_json(driver.widget)


def test_runs_on_a_transformers_gpt2_architecture():
    model, tokenizer = tiny_gpt2(), tiny_tokenizer()
    driver = Driver(LLMAttributionVisualizer(model, tokenizer, prompts=["the cat sat on"]))
    request = driver.request("generate", prompt="the cat sat on", max_new_tokens=3)
    target = driver.replies(request, "generated")[0]["target"]
    for method in ("Feature Ablation", "Layer Integrated Gradients"):
        request = driver.request("attribute", settings={
            "method": method, "prompt": "the cat sat on", "target": target, "rows_per_chunk": 2,
            "arguments": {"n_steps": 4} if "Gradients" in method else {}})
        assert driver.done(request)["state"] == "complete", driver.done(request)
        record = driver.widget.generation
        assert rows_of(record).shape == (len(record["output_tokens"]),
                                         len(record["input_tokens"]))


def test_constructor_checks_its_arguments(demo):
    model, tokenizer = demo
    with pytest.raises(TypeError, match="`prompts` must be a list"):
        LLMAttributionVisualizer(model, tokenizer, prompts="one prompt")
    with pytest.raises(TypeError, match="`tokenizer` must have a `encode`"):
        LLMAttributionVisualizer(model, object())


def test_serve_carries_generate_and_attribute_over_http(demo, capsys):
    from .test_server import call

    visualizer = LLMAttributionVisualizer(*demo, prompts=[PROMPT])
    port = visualizer.serve()
    server = visualizer._server
    auth = {"Authorization": f"token {server.token}"}
    try:
        for message in ({"type": "generate", "id": "g", "prompt": PROMPT, "max_new_tokens": 1},
                        {"type": "attribute", "id": "a", "settings": settings()}):
            assert call(port, "POST", "/send", json.dumps(message).encode(), auth)[0] == 200
            assert visualizer.widget().session.wait(30)
        replies = [m["content"] for m in server.channel.after(0, timeout=0)]
        assert next(r for r in replies if r["type"] == "generated")["target"] == "paris"
        rows = next(r for r in replies if r["type"] == "llm_rows")
        assert set(rows["rows"]["data"]) == {"$bytes"}  # inline base64 over HTTP
        assert [r["state"] for r in replies if r["type"] == "done"] == ["complete", "complete"]
    finally:
        server.stop()
