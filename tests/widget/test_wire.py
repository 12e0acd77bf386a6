"""Tensors on the wire: compact binary, exact enough, and small per example."""

from __future__ import annotations

import pytest
import torch

from insight_widget.widget.wire import (
    decode_tensor,
    encode_tensor,
    image_to_uint8,
    split_buffers,
    wire_size,
)

from .conftest import Driver, make_cifar_visualizer

#: Captum Insights' JSON for one 32x32 RGB example (two 600x600 base64 PNGs), measured
INSIGHTS_BYTES_PER_EXAMPLE = 25_000


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8", "int32"])
def test_encode_decode_round_trip_keeps_shape_and_values(dtype):
    values = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    wire = encode_tensor(values, dtype)
    assert isinstance(wire["data"], bytes) and wire["shape"] == [2, 3, 4]
    tolerance = 23 * 1e-3 if dtype == "float16" else 0
    assert torch.allclose(decode_tensor(wire).float(), values, atol=tolerance)


def test_float16_is_scaled_so_tiny_and_huge_attributions_survive():
    for magnitude in (1e-9, 1e9):
        values = torch.tensor([-1.0, 0.25, 1.0]) * magnitude
        wire = encode_tensor(values, "float16")
        assert len(wire["data"]) == 6 and wire["scale"] == pytest.approx(magnitude)
        assert torch.allclose(decode_tensor(wire), values, rtol=1e-3)


def test_non_finite_values_are_sent_as_zero():
    wire = encode_tensor(torch.tensor([float("nan"), float("inf"), 2.0]), "float32")
    assert decode_tensor(wire).tolist() == [0.0, 0.0, 2.0]


def test_images_of_any_range_become_uint8_channels_last():
    unit = torch.full((3, 2, 2), 0.5)
    assert image_to_uint8(unit)[0, 0].tolist() == [128, 128, 128]
    normalised = torch.tensor([[[-1.0, 1.0]]])  # Normalize(0.5, 0.5) range, greyscale
    assert image_to_uint8(normalised).reshape(-1).tolist() == [0, 255]
    standardised = torch.tensor([[[-2.1, 2.6]]])  # ImageNet-standardised: stretched, not clipped
    assert image_to_uint8(standardised).reshape(-1).tolist() == [0, 255]
    assert image_to_uint8(torch.rand(5, 4, 4)).shape == (4, 4, 1)  # 5 channels -> grey


def test_split_buffers_records_the_path_of_every_bytes_value():
    message, paths, buffers = split_buffers({"a": [1, {"b": b"xy"}], "c": b"z"})
    assert message == {"a": [1, {"b": None}], "c": None}
    assert paths == [["a", 1, "b"], ["c"]] and buffers == [b"xy", b"z"]


def test_a_32x32_rgb_example_is_over_four_times_smaller_than_insights():
    driver = Driver(make_cifar_visualizer())
    request = driver.request("fetch", filters={"num_examples": 4})
    import json

    sizes: dict = {}  # per example: its message (predictions) + its final result message
    for content, buffers in driver.sent:
        if content.get("id") != request or content["type"] not in ("example", "result"):
            continue
        if content["type"] == "result" and content["result"].get("partial"):
            continue  # an intermediate map of anytime IG, replaced by the final one
        key = content["example"]["id"] if content["type"] == "example" else content["example"]
        sizes[key] = sizes.get(key, 0) + len(json.dumps(content, separators=(",", ":"))) \
            + sum(len(b) for b in buffers)
    assert len(sizes) == 4
    sizes = list(sizes.values())
    assert max(sizes) * 4 < INSIGHTS_BYTES_PER_EXAMPLE
    assert wire_size(driver.widget.examples[0]) <= max(sizes)
