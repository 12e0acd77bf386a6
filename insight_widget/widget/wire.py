"""Tensors <-> the bytes that cross the wire to the front end (one serializer for everything).

A tensor travels as ``{"dtype": str, "shape": [int, ...], "data": bytes}``; ipywidgets and
anywidget turn ``bytes`` anywhere in a trait value or message into a binary buffer, which the
front end receives as a ``DataView`` (decoded in one place: ``js/src/wire.ts``). Floats are sent
as float32, or as float16 *scaled into [-1, 1]* with the scale in ``"scale"`` (decoded value =
stored value x scale): half the bytes, 3 significant digits, no overflow or underflow whatever
the attribution's magnitude. Never JSON lists of floats, never base64 images.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import torch
from torch import Tensor

WireTensor = Dict[str, Any]

_DTYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8, "int32": np.int32}


def encode_tensor(tensor: Tensor, dtype: str = "float32") -> WireTensor:
    """Encode ``tensor`` (any shape, any device) as a wire tensor of ``dtype``.

    ``dtype`` is one of "float32", "float16" (scaled, see module doc), "uint8", "int32".
    Non-finite values are sent as 0 so the browser never draws NaN.
    """
    if dtype not in _DTYPES:
        raise ValueError(f"`dtype` must be one of {sorted(_DTYPES)}; got {dtype!r}.")
    values = tensor.detach().to("cpu")
    if values.is_floating_point():
        values = torch.nan_to_num(values.float(), nan=0.0, posinf=0.0, neginf=0.0)
    wire: WireTensor = {"dtype": dtype, "shape": list(values.shape)}
    if dtype == "float16":
        scale = float(values.abs().max()) if values.numel() else 0.0
        scale = scale if scale > 0 else 1.0
        values = values / scale
        wire["scale"] = scale
    array = np.ascontiguousarray(values.numpy().astype(_DTYPES[dtype], copy=False))
    wire["data"] = array.tobytes()
    return wire


def decode_tensor(wire: WireTensor) -> Tensor:
    """Inverse of :func:`encode_tensor` (float16 comes back as float32, rescaled)."""
    dtype = wire["dtype"]
    if dtype not in _DTYPES:
        raise ValueError(f"wire dtype must be one of {sorted(_DTYPES)}; got {dtype!r}.")
    array = np.frombuffer(bytes(wire["data"]), dtype=_DTYPES[dtype]).reshape(wire["shape"])
    tensor = torch.from_numpy(array.copy())
    if dtype == "float16":
        tensor = tensor.float() * float(wire.get("scale", 1.0))
    return tensor


def image_to_uint8(image: Tensor) -> Tensor:
    """An image tensor (C, H, W) or (H, W) of any range -> uint8 (H, W, C) with C in {1, 3}.

    Values already in [0, 1] are scaled by 255, values in [0, 255] kept, values in [-1, 1]
    (``Normalize(0.5, 0.5)``) mapped from there; anything else (e.g. ImageNet-standardised) is
    min-max stretched per image, so negative values never clip to black (Captum #1098).
    Channel counts other than 1 and 3 are averaged to greyscale.
    """
    values = image.detach().float().cpu()
    if values.dim() == 2:
        values = values.unsqueeze(0)
    if values.dim() != 3:
        raise ValueError(f"an image must have shape (C, H, W) or (H, W); got {tuple(image.shape)}.")
    if values.shape[0] not in (1, 3) and values.shape[-1] in (1, 3):
        values = values.permute(2, 0, 1)  # channels-last input
    if values.shape[0] not in (1, 3):
        values = values.mean(0, keepdim=True)
    low, high = float(values.min()), float(values.max())
    if low >= 0.0 and high <= 1.0:
        unit = values
    elif low >= 0.0 and high <= 255.0:
        unit = values / 255.0
    elif low >= -1.0 and high <= 1.0:
        unit = (values + 1.0) / 2.0
    else:
        unit = (values - low) / (high - low) if high > low else torch.zeros_like(values)
    return (unit.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).contiguous()


def replace_bytes(value: Any, replace: Callable[[bytes, List[Any]], Any]) -> Any:
    """A copy of the JSON-like ``value`` (dicts, lists, tuples) with every ``bytes`` value
    (also bytearray/memoryview) replaced by ``replace(data, path)``; ``path`` is its key/index
    path. The one walker for everything that carries tensors out of Python."""

    def walk(item: Any, path: List[Any]) -> Any:
        if isinstance(item, (bytes, bytearray, memoryview)):
            return replace(bytes(item), path)
        if isinstance(item, dict):
            return {key: walk(inner, [*path, key]) for key, inner in item.items()}
        if isinstance(item, (list, tuple)):
            return [walk(inner, [*path, index]) for index, inner in enumerate(item)]
        return item

    return walk(value, [])


def split_buffers(message: Any) -> Tuple[Any, List[List[Any]], List[bytes]]:
    """Move every ``bytes`` value out of a JSON-like ``message``.

    Returns (message without bytes, paths, buffers); ``paths[i]`` is the key/index path of
    ``buffers[i]``. The front end puts them back (``restoreBuffers`` in ``js/src/wire.ts``), so
    custom messages carry binary tensors exactly like trait values do.
    """
    paths: List[List[Any]] = []
    buffers: List[bytes] = []

    def move(data: bytes, path: List[Any]) -> None:
        paths.append(path)
        buffers.append(data)

    return replace_bytes(message, move), paths, buffers


def wire_size(value: Any) -> int:
    """Bytes ``value`` occupies on the wire: binary buffers plus the compact JSON of the rest."""
    import json

    stripped, _, buffers = split_buffers(value)
    return len(json.dumps(stripped, separators=(",", ":"))) + sum(len(b) for b in buffers)
