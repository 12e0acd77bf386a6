"""A store in the visualiser, driven through the widget's messages as the front end drives it:
pages, filters (class, correctness, a per-example statistic), sorting, the dataset panel's
summaries, the stored arguments against the selected ones, and a live recompute."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from insight_widget import AttributionVisualizer, Batch, ImageFeature
from insight_widget.attr import IntegratedGradients
from insight_widget.datasets import attribute_dataset
from insight_widget.widget.wire import decode_tensor

from ..widget.conftest import Driver
from .conftest import CLASSES, TinyCNN

N = 50


class Reiterable:
    """A dataset that is not a list: read again from the start by every iteration."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(list(self.batches))


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    torch.manual_seed(1)
    model = TinyCNN().eval()
    g = torch.Generator().manual_seed(2)
    images, labels = torch.randn(N, 3, 6, 6, generator=g), torch.randint(3, (N,), generator=g)
    batches = [Batch(images[i:i + 8], labels[i:i + 8]) for i in range(0, N, 8)]
    path = tmp_path_factory.mktemp("pages") / "ig"
    store = attribute_dataset(IntegratedGradients(model), batches, output=path, classes=CLASSES,
                              n_steps=4, progress=False)
    maps = store.attributions(range(N))[0]
    table = store.examples().to_pydict()
    return model, batches, path, store, maps, table


def _driver(stored, dataset=None, **kwargs) -> Driver:
    model, batches, path, *_ = stored
    features = [ImageFeature("x", baseline_transforms=[lambda x: x * 0], input_transforms=[])]
    visualizer = AttributionVisualizer.from_store(path, [model], CLASSES, features,
                                                  dataset if dataset is not None else batches,
                                                  **kwargs)
    return Driver(visualizer)


def _page(driver: Driver, settings=None, **query):
    request = driver.request("fetch", settings=settings or {"method": "Integrated Gradients"},
                             filters={"store": query})
    done = driver.done(request)
    assert done["state"] == "complete", done["message"]
    return [e["position"] for e in driver.widget.examples], done["page"]


@pytest.mark.parametrize("reiterable", [False, True])
def test_a_page_shows_the_stored_maps_of_those_positions_without_recomputing(stored, reiterable):
    _model, batches, _path, _store, maps, _table = stored
    driver = _driver(stored, Reiterable(batches) if reiterable else None)
    positions, page = _page(driver, size=8, page=2)
    assert positions == list(range(16, 24))
    assert page == {"number": 2, "pages": 7, "size": 8, "matching": N, "total": N}
    for example in driver.widget.examples:
        result = example["models"][0]
        assert result["stored"] is not None and result["error"] is None
        # the card's map is the stored one, channel-summed as every image map is shown
        shown = decode_tensor(result["attribution"][0])
        expected = maps[example["position"]].sum(0)
        torch.testing.assert_close(shown, expected / expected.abs().max() * shown.abs().max(),
                                   rtol=0, atol=2e-3 * float(shown.abs().max()))
    # past the end: the last page (never an empty one)
    positions, page = _page(driver, size=8, page=99)
    assert positions == [48, 49] and page["number"] == 6


def test_filters_by_class_correctness_and_statistic_then_sorts(stored):
    *_, maps, table = stored
    labels, predictions = np.array(table["label"]), np.array(table["prediction"])
    max_abs = maps.flatten(1).abs().max(1).values.double().numpy()
    driver = _driver(stored)
    positions, page = _page(driver, size=64, label="b")
    assert positions == np.flatnonzero(labels == 1).tolist()
    positions, _ = _page(driver, size=64, correct="incorrect")
    assert positions == np.flatnonzero(labels != predictions).tolist()
    threshold = float(np.median(max_abs))
    positions, page = _page(driver, size=64, statistic="max_abs", minimum=threshold,
                            sort="max_abs", descending=True)
    chosen = np.flatnonzero(max_abs >= threshold)
    assert positions == chosen[np.argsort(-max_abs[chosen], kind="stable")].tolist()
    assert page["matching"] == len(chosen) and page["total"] == N


def test_a_bad_query_is_an_error_naming_the_key_and_the_widget_keeps_working(stored):
    driver = _driver(stored)
    bad = driver.request("fetch", filters={"store": {"sort": "colour"}})
    done = driver.done(bad)
    assert done["state"] == "error" and "`sort`" in done["message"]
    assert _page(driver, size=4)[0] == [0, 1, 2, 3]


def test_the_dataset_panel_gets_per_class_summaries_as_binary_tensors(stored):
    _model, _batches, _path, store, _maps, _table = stored
    driver = _driver(stored)
    request = driver.request("store_summary")
    ((reply, buffers),) = [(c, b) for c, b in driver.sent if c.get("id") == request]
    assert ["classes", 0, "map", "data"] in reply["buffer_paths"]
    for path, buffer in zip(reply["buffer_paths"], buffers):  # as js/src/wire.ts does
        node = reply
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = buffer
    assert reply["kind"] == "store_summary" and reply["statistic"] == "abs_mean"
    names = [c["name"] for c in reply["classes"]]
    per_class = store.summary.per_class
    assert names == ["all", *(CLASSES[k] for k in per_class)]
    assert reply["classes"][0]["count"] == N
    for entry, summary in zip(reply["classes"][1:], per_class.values()):
        mean_abs = summary.as_dict()["abs_mean"]
        torch.testing.assert_close(decode_tensor(entry["map"]), mean_abs.sum(0).float())
        torch.testing.assert_close(decode_tensor(entry["bars"]), mean_abs.mean((1, 2)).float())


def test_stored_arguments_that_differ_from_the_selected_ones_are_named(stored):
    driver = _driver(stored)
    _page(driver, size=1, settings={"method": "Integrated Gradients"})  # UI default n_steps
    result = driver.widget.examples[0]["models"][0]
    # the UI's default is anytime IG (a node budget and a tolerance); the store: 4 fixed nodes
    assert result["stored"]["differs"] == ["delta_tolerance", "n_steps"]
    assert "n_steps=4" in result["warning"] and "recompute" in result["warning"]
    assert result["stored"]["arguments"] == {"n_steps": 4}
    _page(driver, size=1, settings={"method": "Integrated Gradients",
                                    "arguments": {"n_steps": 4, "delta_tolerance": None}})
    result = driver.widget.examples[0]["models"][0]
    assert result["stored"]["differs"] == [] and result["warning"] == \
        "stored map (not recomputed)"


def test_one_example_is_recomputed_live_on_request(stored):
    model = stored[0]
    driver = _driver(stored)
    settings = {"method": "Integrated Gradients",
                "arguments": {"n_steps": 8, "delta_tolerance": None}}
    _page(driver, size=2, page=1, settings=settings)
    example = driver.widget.examples[0]
    target = example["models"][0]["target"]
    request = driver.request("store_live", example=example["id"], model=0, target=target,
                             settings=settings)
    (reply,) = driver.replies(request, "result")
    live = reply["result"]
    assert live.get("stored") is None and live["warning"] is None and live["error"] is None
    expected = IntegratedGradients(model).attribute(_input(stored, example["position"]),
                                                    target=target, n_steps=8)[0].sum(0)
    shown = decode_tensor(driver.widget.examples[0]["models"][0]["attribution"][0])
    torch.testing.assert_close(shown / shown.abs().max(), expected / expected.abs().max(),
                               rtol=0, atol=2e-3)
    assert driver.widget.examples[0]["models"][0].get("stored") is None


def _input(stored, position):
    batches = stored[1]
    return batches[position // 8].inputs[position % 8:position % 8 + 1]


def test_the_widget_opens_on_the_stored_method_with_the_stored_arguments(stored):
    driver = _driver(stored)
    settings = driver.widget.settings
    assert settings["method"] == "Integrated Gradients"
    assert settings["arguments"]["n_steps"] == 4 and settings["arguments"]["delta_tolerance"] \
        is None
    # what the front end sends back with those choices shows the stored maps as they are
    _page(driver, size=2, settings={"method": settings["method"],
                                    "arguments": settings["arguments"]})
    assert all(e["models"][0]["stored"]["differs"] == [] for e in driver.widget.examples)
    assert driver.widget.spec["store"]["arguments"] == {"n_steps": 4}


def test_serve_carries_a_stores_page_and_summary_requests(stored, capsys):
    import json

    from ..widget.test_server import call

    driver = _driver(stored)
    visualizer = driver.visualizer
    port = visualizer.serve()
    server = visualizer._server
    auth = {"Authorization": f"token {server.token}"}
    try:
        for message in ({"type": "store_summary", "id": "s"},
                        {"type": "fetch", "id": "p", "filters": {"store": {"size": 3}}}):
            assert call(port, "POST", "/send", json.dumps(message).encode(), auth)[0] == 200
        assert visualizer.widget().session.wait(30)
        replies = {m["content"]["id"]: m["content"] for m in server.channel.after(0, timeout=0)
                   if m["content"]["type"] in ("reply", "done")}
        assert replies["s"]["kind"] == "store_summary"
        assert replies["s"]["classes"][0]["name"] == "all"
        assert replies["p"]["page"]["pages"] == -(-N // 3)
    finally:
        server.stop()
