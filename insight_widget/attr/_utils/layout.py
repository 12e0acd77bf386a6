"""Memory layout of the perturbed rows a convolutional model is run on.

Forward-only evaluation of many perturbed copies (ablation, occlusion, Shapley values, LIME,
the metrics' perturbed passes) spends its time in the model's convolutions. PyTorch's CPU
convolutions (oneDNN) work natively on channels-last ("NHWC") tensors; an NCHW input is
reordered to and from that layout around every convolution, and on images of CIFAR size these
reorders cost as much as the arithmetic: on a 32-channel residual CNN with 3x32x32 inputs (one
thread) a forward takes 3.2 ms per 4 images in NCHW and 2.5 ms in channels-last, and the
ablation benchmarks run in 0.71-0.80x Captum's time instead of 0.93-1.07x
(``benchmarks/cases/perturbation.py``). A channels-last input makes every convolution after it
produce channels-last outputs, so the whole network runs without reorders.

The layout changes how a convolution's sums are ordered, not what is summed: outputs differ
from the NCHW ones by float32 rounding only (max |diff| 1.2e-7 on the residual CNN's logits of
about 1, 1.4e-4 on ResNet-50's of about 120: relative 1e-6). Perturbation attributions are
differences of such outputs, so they carry that rounding too (README, "Deliberate
differences").

Some models cannot take a channels-last tensor: ``x.view(n, -1)`` on a 4-D activation that is
not contiguous raises. :class:`RowLayout` therefore tries channels-last on its first call (the
engine's unperturbed forward) and, if the model raises a ``RuntimeError`` there, runs that call
again in NCHW and keeps NCHW for the rest of the attribution. Errors of later calls propagate.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple, TypeVar

import torch
from torch import Tensor, nn

Result = TypeVar("Result")

# Layers whose CPU/GPU kernels run natively on channels-last 4-D tensors.
_CHANNELS_LAST_LAYERS = (nn.Conv2d, nn.ConvTranspose2d)


def benefits_from_channels_last(model: Optional[nn.Module]) -> bool:
    """True when ``model`` holds a 2-D convolution (its 4-D inputs then run faster in
    channels-last layout); False for anything else, including non-module forward functions,
    whose layout needs we cannot see."""
    return model is not None and any(isinstance(m, _CHANNELS_LAST_LAYERS)
                                     for m in model.modules())


def to_channels_last(rows: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
    """Every 4-D floating-point tensor of ``rows`` in channels-last layout (other tensors, and
    tensors already in it, unchanged; values unchanged)."""
    return tuple(
        r.contiguous(memory_format=torch.channels_last)
        if r.dim() == 4 and r.is_floating_point() else r
        for r in rows)


class RowLayout:
    """Runs a model call on rows in the layout that suits the model (see the module docstring).

    ``channels_last``: whether rows are passed in channels-last layout; decided by
    :func:`benefits_from_channels_last` and revised on the first call (a model that raises on a
    channels-last input gets NCHW from then on).
    """

    def __init__(self, model: Optional[nn.Module]) -> None:
        self.channels_last = benefits_from_channels_last(model)
        self._first = True

    def run(self, call: Callable[[Tuple[Tensor, ...]], Result],
            rows: Tuple[Tensor, ...]) -> Result:
        """``call(rows)`` with ``rows`` in this layout."""
        first, self._first = self._first, False
        if not self.channels_last:
            return call(rows)
        converted = to_channels_last(rows)
        if not first or all(c is r for c, r in zip(converted, rows)):
            return call(converted)
        try:
            return call(converted)
        except torch.OutOfMemoryError:
            raise
        except RuntimeError:
            # e.g. ``view`` on a non-contiguous activation: this model needs NCHW tensors
            self.channels_last = False
            return call(rows)
