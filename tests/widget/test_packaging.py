"""The widget without a built bundle, and the self-contained HTML export."""

from __future__ import annotations

import json
import re

import torch

import insight_widget.widget.widget as widget_module
from insight_widget import Batch, TimeSeriesFeature

from .conftest import Driver, make_cifar_visualizer
from .small_models import TinySignal, seeded


def test_a_missing_bundle_gives_a_widget_that_explains_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setattr(widget_module, "STATIC", tmp_path)
    esm = widget_module._bundle("widget.js", widget_module.MISSING_BUNDLE_ESM)
    assert esm is widget_module.MISSING_BUNDLE_ESM
    assert "npm ci && npm run build" in esm and 'data-testid", "iw-error"' in esm
    assert widget_module._bundle("widget.css", "") == ""


def test_the_built_bundle_is_what_the_widget_loads():
    assert (widget_module.STATIC / "widget.js").exists(), "build the front end: npm run build"
    esm = str(widget_module.VisualizerWidget._esm)
    assert "iw-root" in esm and "the front end is not built" not in esm
    # the standalone page's script (js/src/page.ts) is built next to it
    page = (widget_module.STATIC / "page.js").read_text(encoding="utf-8")
    assert "insight-widget-page" in page and "poll?after=" in page


def test_html_export_embeds_bundle_css_and_state_without_breaking_out_of_script():
    driver = Driver(make_cifar_visualizer(classes=[f"c{i}</script>" for i in range(10)]))
    driver.request("fetch", filters={"num_examples": 2})
    html = driver.widget.to_html()
    state_text = re.search(r'<script id="insight-widget-state" type="application/json">(.*?)'
                           r"</script>", html, re.S).group(1)
    state = json.loads(state_text.replace("<\\/", "</"))
    assert state["spec"]["classes"][0] == "c0</script>"
    assert len(state["examples"]) == 2
    assert "$bytes" in json.dumps(state["examples"][0]["inputs"][0]["original"])
    assert "cdn" not in html.lower() and "https://" not in html


def test_time_series_features_are_sent_and_attributed_per_step():
    generator = torch.Generator().manual_seed(0)
    signals = torch.randn(4, 1, 64, generator=generator)
    from insight_widget import AttributionVisualizer

    viz = AttributionVisualizer(seeded(TinySignal()), ["calm", "spike"],
                                TimeSeriesFeature("ECG", sample_rate=32.0),
                                [Batch(signals, torch.tensor([0, 1, 0, 1]))])
    driver = Driver(viz)
    request = driver.request("fetch", settings={"method": "Occlusion",
                                                "arguments": {"sliding_window": 8,
                                                              "strides": 4}},
                             filters={"num_examples": 2})
    assert driver.done(request)["state"] == "complete"
    example = driver.widget.examples[0]
    assert example["inputs"][0]["signal"]["shape"] == [1, 64]
    assert example["inputs"][0]["sample_rate"] == 32.0
    result = example["models"][0]
    assert result["error"] is None and result["attribution"][0]["shape"] == [1, 64]


def test_serve_answers_requests_over_http_like_the_insights_server(capsys):
    import urllib.request

    visualizer = make_cifar_visualizer()
    port = visualizer.serve()
    try:
        assert visualizer.server_url in capsys.readouterr().out
        base = f"http://127.0.0.1:{port}"
        token = f"token={visualizer._server.token}"
        page = urllib.request.urlopen(urllib.request.Request(f"{base}/", headers={
            "Authorization": f"token {visualizer._server.token}"}), timeout=10).read().decode()
        assert 'id="insight-widget-state"' in page and '"transport": "http"' in page
        request = urllib.request.Request(f"{base}/send?{token}", method="POST", data=json.dumps(
            {"type": "fetch", "id": "r1", "filters": {"num_examples": 2}}).encode())
        urllib.request.urlopen(request, timeout=10).read()
        assert visualizer.widget().session.wait(30)
        replies = json.loads(urllib.request.urlopen(f"{base}/poll?after=0&{token}",
                                                    timeout=30).read())
        kinds = [m["content"]["type"] for m in replies["messages"]]
        assert kinds[0] == "fetch_started" and kinds[-1] == "done"
        assert kinds.count("example") == 2
        example = next(m["content"] for m in replies["messages"]
                       if m["content"]["type"] == "example")
        assert "$bytes" in json.dumps(example["example"]["inputs"][0]["original"])
    finally:
        visualizer._server.stop()


def test_the_export_request_replies_with_the_page():
    driver = Driver(make_cifar_visualizer())
    driver.request("fetch", filters={"num_examples": 1})
    request = driver.request("export")
    (reply,) = driver.replies(request, "export")
    assert reply["html"].startswith("<!doctype html>") and 'id="insight-widget-state"' in \
        reply["html"]


def test_audio_features_carry_their_sample_rate_and_multichannel_signals():
    from insight_widget import AudioFeature

    feature = AudioFeature("Clip", sample_rate=8000)
    stereo = torch.randn(1, 2, 400)
    wire = feature.encode_input(stereo)
    assert wire["type"] == "timeseries" and wire["sample_rate"] == 8000.0
    assert wire["signal"]["shape"] == [2, 400] and wire["signal"]["dtype"] == "float16"
    assert feature.encode_attribution(torch.ones(1, 2, 400))["shape"] == [2, 400]
    window, strides = feature.occlusion_window((2, 400), 50, 25)
    assert window == (2, 50) and strides == (2, 25)
    assert feature.feature_mask((2, 400), "patches", 100).unique().tolist() == [0, 1, 2, 3]
