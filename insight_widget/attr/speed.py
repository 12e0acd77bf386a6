"""Opt-in speed settings for attribution: reduced-precision autocast, channels-last, devices.

:class:`SpeedOptions` wraps a model so any attribution method (or the visualiser) can run it

* under ``torch.autocast`` in ``autocast_dtype`` (bfloat16 by default; CPU and CUDA): matrix
  products and convolutions run in 16-bit, with an 8-bit mantissa for bfloat16, so outputs
  and gradients carry relative errors of order 2**-8 per operation; the attribution error this
  causes is measured by ``benchmarks`` (family ``interactive``) and can be measured for a given
  model with :func:`autocast_error`. The output is returned in float32 so gradients w.r.t.
  float32 inputs stay float32.
* on channels-last inputs (4-D tensors in ``torch.channels_last`` layout; convolutions then
  pick channels-last kernels, often faster on CPU). The model's parameters are not touched.
* on the model's device: tensor arguments are moved to the device of the model's first
  parameter (a model on CUDA/MPS works with CPU inputs; results come back on that device).

A model that cannot run under autocast raises :class:`AutocastUnsupported` naming the model
and the original error, unless ``fallback=True``, which then runs it in full precision (with a
``RuntimeWarning``, once) and records ``fell_back``.

:func:`predict` runs a forward pass under ``torch.inference_mode`` (no autograd bookkeeping) for
forward-only work such as the visualiser's predictions.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import torch
from torch import Tensor, nn

from ._utils.validation import check_bool, check_callable, describe


class AutocastUnsupported(RuntimeError):
    """The model failed under ``torch.autocast`` (and no fallback was asked for)."""


def model_device(model: Any) -> Optional[torch.device]:
    """Device of the first parameter (or buffer) of ``model``; None for parameter-free ones."""
    if isinstance(model, nn.Module):
        for tensor in model.parameters():
            return tensor.device
        for tensor in model.buffers():
            return tensor.device
    return None


def to_device(value: Any, device: Optional[torch.device]) -> Any:
    """``value`` with every tensor in it (nested tuples and lists too) on ``device``; values
    already there, non-tensors, and everything when ``device`` is None are returned as they
    are. How a visualiser runs a model on CUDA or MPS from a dataset read on the CPU."""
    if device is None:
        return value
    if isinstance(value, Tensor):
        return value if value.device == device else value.to(device)
    if isinstance(value, (tuple, list)):
        return type(value)(to_device(v, device) for v in value)
    return value


class SpeedOptions(nn.Module):
    """``model`` run with opt-in speed settings (see the module docstring).

    Args:
        model: the model (``nn.Module`` or callable) returning a tensor.
        autocast: run under ``torch.autocast`` in ``autocast_dtype`` (default False).
        channels_last: pass 4-D inputs in channels-last layout (default False).
        autocast_dtype: ``torch.bfloat16`` (default) or ``torch.float16`` (CUDA).
        fallback: when the model fails under autocast, run it in full precision instead of
            raising :class:`AutocastUnsupported` (default False).
    """

    def __init__(self, model: Any, autocast: bool = False, channels_last: bool = False,
                 autocast_dtype: torch.dtype = torch.bfloat16, fallback: bool = False) -> None:
        super().__init__()
        check_callable("model", model)
        self.autocast = check_bool("autocast", autocast)
        self.channels_last = check_bool("channels_last", channels_last)
        self.fallback = check_bool("fallback", fallback)
        if autocast_dtype not in (torch.bfloat16, torch.float16):
            raise ValueError("`autocast_dtype` must be torch.bfloat16 or torch.float16; got "
                             f"{describe(autocast_dtype)}.")
        self.autocast_dtype = autocast_dtype
        self.model = model
        self.fell_back = False
        if isinstance(model, nn.Module):
            self.train(model.training)

    def _prepare(self, value: Any, device: Optional[torch.device]) -> Any:
        if not isinstance(value, Tensor):
            return value
        value = to_device(value, device)
        if self.channels_last and value.dim() == 4:
            value = value.contiguous(memory_format=torch.channels_last)
        return value

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        device = model_device(self.model)
        args = tuple(self._prepare(a, device) for a in args)
        kwargs = {k: self._prepare(v, device) for k, v in kwargs.items()}
        if not self.autocast or self.fell_back:
            return self.model(*args, **kwargs)
        device_type = (device or torch.device("cpu")).type
        try:
            with torch.autocast(device_type=device_type, dtype=self.autocast_dtype):
                output = self.model(*args, **kwargs)
        except Exception as error:
            # Blame autocast only if the model runs without it (a failure in full precision
            # is the model's or the caller's own error, raised as it is).
            output = self.model(*args, **kwargs)
            name = type(self.model).__name__
            if not self.fallback:
                raise AutocastUnsupported(
                    f"{name} cannot run under torch.autocast({device_type!r}, "
                    f"{self.autocast_dtype}) ({type(error).__name__}: {error}); it runs in full "
                    "precision. Pass autocast=False, or fallback=True to fall back to full "
                    "precision automatically.") from error
            warnings.warn(f"{name} failed under autocast ({type(error).__name__}: {error}); "
                          "running it in full precision from now on.", RuntimeWarning,
                          stacklevel=2)
            self.fell_back = True
            return output
        if isinstance(output, Tensor) and output.dtype in (torch.bfloat16, torch.float16):
            output = output.float()
        return output


def predict(model: Any, *inputs: Any) -> Tensor:
    """``model(*inputs)`` under ``torch.inference_mode`` (forward-only work, e.g. predictions)."""
    with torch.inference_mode():
        return model(*inputs)


def autocast_error(method: Any, fast_method: Any, inputs: Any, **kwargs: Any) -> Tensor:
    """Relative L2 error per example of ``fast_method``'s attributions (e.g. the method built
    on ``SpeedOptions(model, autocast=True)``) against ``method``'s, shape (N,)."""
    exact = method.attribute(inputs, **kwargs)
    fast = fast_method.attribute(inputs, **kwargs)
    exact_t = exact if isinstance(exact, Tensor) else torch.cat(
        [e.flatten(1) for e in exact], 1)
    fast_t = fast if isinstance(fast, Tensor) else torch.cat([f.flatten(1) for f in fast], 1)
    exact_t, fast_t = exact_t.flatten(1).double(), fast_t.flatten(1).double()
    return (fast_t - exact_t).norm(dim=1) / exact_t.norm(dim=1).clamp_min(1e-30)


__all__ = ["AutocastUnsupported", "SpeedOptions", "autocast_error", "model_device", "predict",
           "to_device"]
