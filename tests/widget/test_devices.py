"""A model on an accelerator works end to end: the visualiser reads the dataset on the CPU,
runs predictions and attributions on the model's device, and only the wire copies come back
to the CPU. Runs on the CPU everywhere and on CUDA / MPS where one is available."""

from __future__ import annotations

import copy

import pytest
import torch

from insight_widget.attr.speed import to_device
from insight_widget.widget.wire import decode_tensor

from .conftest import Driver, make_cifar_visualizer
from .small_models import TinyCifarNet, seeded


def available_devices():
    devices = [pytest.param("cpu")]
    devices.append(pytest.param("cuda", marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA device on this machine")))
    mps = getattr(torch.backends, "mps", None)
    devices.append(pytest.param("mps", marks=pytest.mark.skipif(
        mps is None or not mps.is_available(), reason="no MPS device on this machine")))
    return devices


# gradient, anytime IG (the default), perturbation, a layer map, a wrapper
METHODS = ["Saliency", "Integrated Gradients", "Occlusion", "Layer Grad Cam", "Noise Tunnel"]


def maps_for(model: torch.nn.Module, method: str) -> list:
    driver = Driver(make_cifar_visualizer(models=model))
    request = driver.request("fetch", settings={"method": method},
                             filters={"num_examples": 2})
    assert driver.done(request)["state"] == "complete"
    maps = []
    for example in driver.widget.examples:
        result = example["models"][0]
        assert result["error"] is None, result["error"]
        shown = result["attribution"][0] or result["layer"]["values"]
        maps.append(decode_tensor(shown))
        maps.append(example["predictions"][0][0]["score"])
    return maps


@pytest.mark.parametrize("device", available_devices())
@pytest.mark.parametrize("method", METHODS)
def test_a_model_on_its_device_gives_the_cpu_models_maps(device, method):
    cpu_model = seeded(TinyCifarNet())
    on_device = copy.deepcopy(cpu_model).to(device)
    expected = maps_for(cpu_model, method)
    got = maps_for(on_device, method)
    assert next(on_device.parameters()).device.type == device  # the model was not moved
    for a, b in zip(got, expected):
        if isinstance(a, torch.Tensor):
            assert a.device.type == "cpu"
            # float16 wire maps of float32 results computed by another device's kernels
            torch.testing.assert_close(a, b, rtol=1e-2, atol=1e-3)
        else:
            assert a == pytest.approx(b, rel=1e-4, abs=1e-5)


def test_to_device_moves_nested_tensors_and_leaves_the_rest():
    values = (torch.ones(2), [torch.zeros(1), 3], "name", None)
    moved = to_device(values, torch.device("cpu"))
    assert moved[0] is values[0] and moved[1][0] is values[1][0]  # already there: no copy
    assert moved[1][1] == 3 and moved[2] == "name" and moved[3] is None
    assert isinstance(moved[1], list)
    assert to_device(values, None) is values
    meta = to_device(values, torch.device("meta"))
    assert meta[0].device.type == "meta" and meta[1][0].device.type == "meta"
