"""Repeated attribution calls must not accumulate live tensors (one case per family).

A leak in these methods typically comes from a closure registered on an autograd node that
refers back to a tensor of the same graph: Python's garbage collector cannot see through
autograd nodes, so the whole graph of every call stays alive. The check counts the tensors
Python can reach (and the bytes of their distinct storages) after a full collection, before
and after a run of calls made after a warm-up; a leak of one tensor per call shows as growth
proportional to the number of calls, which the bound below rules out while leaving room for a
bounded cache filled once. Objects that existed before a test are frozen out of the collector
(``gc.freeze``) so that each scan looks only at what the calls created and stays cheap.
"""

from __future__ import annotations

import gc
import warnings
from typing import Callable, Dict, Tuple

import pytest
import torch
from torch import nn

from insight_widget import attr
from insight_widget.metrics import infidelity, sensitivity_max

WARM_UP_CALLS = 2
MEASURED_CALLS = 6


def live_tensors() -> Tuple[int, int]:
    """(number of tensors reachable by the garbage collector, bytes of their storages)."""
    gc.collect()
    count = 0
    storages: Dict[int, int] = {}
    with warnings.catch_warnings():  # touching torch's deprecated aliases while scanning
        warnings.simplefilter("ignore")
        for obj in gc.get_objects():
            if isinstance(obj, torch.Tensor):
                count += 1
                try:
                    storage = obj.untyped_storage()
                except (RuntimeError, NotImplementedError):  # meta / sparse tensors
                    continue
                storages[storage.data_ptr()] = storage.nbytes()
    return count, sum(storages.values())


class SmallConvNet(nn.Module):
    """conv -> ReLU -> max-pool -> linear, with an in-place ReLU (the module DeepLift overrides)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


def _model() -> SmallConvNet:
    torch.manual_seed(0)
    return SmallConvNet().eval()


def _inputs() -> torch.Tensor:
    return torch.randn(2, 3, 8, 8)


def _call(cls, *construct, **kwargs) -> Callable[[nn.Module, torch.Tensor], object]:
    def run(model: nn.Module, x: torch.Tensor) -> object:
        args = [getattr(model, name) for name in construct]
        return cls(model, *args).attribute(x, **kwargs)

    return run


def _noise_tunnel(inner) -> Callable[[nn.Module, torch.Tensor], object]:
    def run(model: nn.Module, x: torch.Tensor) -> object:
        return attr.NoiseTunnel(inner(model)).attribute(x, nt_samples=3, target=1)

    return run


def _infidelity(model: nn.Module, x: torch.Tensor) -> object:
    def perturb(inputs: torch.Tensor):
        noise = torch.randn_like(inputs) * 0.1
        return noise, inputs - noise

    attributions = attr.Saliency(model).attribute(x, target=1)
    return infidelity(model, perturb, x, attributions, target=1, n_perturb_samples=3)


def _sensitivity(model: nn.Module, x: torch.Tensor) -> object:
    return sensitivity_max(attr.Saliency(model).attribute, x, target=1, n_perturb_samples=3)


BASE = torch.zeros(3, 3, 8, 8)
MASK = torch.arange(4).repeat_interleave(16).reshape(1, 1, 8, 8).expand(1, 3, 8, 8)

CASES = {
    # gradient family
    "Saliency": _call(attr.Saliency, target=1),
    "InputXGradient": _call(attr.InputXGradient, target=1),
    "IntegratedGradients": _call(attr.IntegratedGradients, target=1, n_steps=4),
    "GuidedBackprop": _call(attr.GuidedBackprop, target=1),
    "Deconvolution": _call(attr.Deconvolution, target=1),
    "GradientShap": _call(attr.GradientShap, target=1, baselines=BASE, n_samples=3),
    # DeepLift / LRP family
    "DeepLift": _call(attr.DeepLift, target=1),
    "DeepLiftShap": _call(attr.DeepLiftShap, target=1, baselines=BASE),
    "LRP": _call(attr.LRP, target=1),
    # layer family
    "LayerGradCam": _call(attr.LayerGradCam, "conv", target=1),
    "LayerConductance": _call(attr.LayerConductance, "conv", target=1, n_steps=4),
    "LayerIntegratedGradients": _call(attr.LayerIntegratedGradients, "conv", target=1,
                                      n_steps=4),
    "LayerDeepLift": _call(attr.LayerDeepLift, "conv", target=1),
    "LayerLRP": _call(attr.LayerLRP, "conv", target=1),
    "LayerFeatureAblation": _call(attr.LayerFeatureAblation, "conv", target=1),
    # neuron family
    "NeuronGradient": _call(attr.NeuronGradient, "conv", neuron_selector=(1, 2, 2)),
    "NeuronIntegratedGradients": _call(attr.NeuronIntegratedGradients, "conv",
                                       neuron_selector=(1, 2, 2), n_steps=4),
    "NeuronDeepLift": _call(attr.NeuronDeepLift, "conv", neuron_selector=(1, 2, 2)),
    "NeuronConductance": _call(attr.NeuronConductance, "conv", neuron_selector=(1, 2, 2),
                               target=1, n_steps=4),
    # perturbation family
    "FeatureAblation": _call(attr.FeatureAblation, target=1, feature_mask=MASK),
    "Occlusion": _call(attr.Occlusion, target=1, sliding_window_shapes=(3, 4, 4),
                       strides=(3, 4, 4)),
    "ShapleyValueSampling": _call(attr.ShapleyValueSampling, target=1, feature_mask=MASK,
                                  n_samples=2),
    "Lime": _call(attr.Lime, target=1, feature_mask=MASK, n_samples=8),
    "KernelShap": _call(attr.KernelShap, target=1, feature_mask=MASK, n_samples=8),
    # NoiseTunnel
    "NoiseTunnel(IntegratedGradients)": _noise_tunnel(attr.IntegratedGradients),
    "NoiseTunnel(DeepLift)": _noise_tunnel(attr.DeepLift),
    # metrics
    "infidelity": _infidelity,
    "sensitivity_max": _sensitivity,
}


@pytest.fixture
def only_new_objects():
    """Scan only objects created during the test: freeze everything older (cheap collections)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("name", list(CASES))
def test_repeated_calls_keep_live_tensors_bounded(name, only_new_objects):
    run = CASES[name]
    model, x = _model(), _inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(WARM_UP_CALLS):
            run(model, x)
        count_before, bytes_before = live_tensors()
        for _ in range(MEASURED_CALLS):
            run(model, x)
        count_after, bytes_after = live_tensors()
    # A leak keeps at least one tensor per call; growth below the number of calls means none
    # of them keeps a tensor alive (a cache filled during warm-up does not grow).
    assert count_after - count_before < MEASURED_CALLS, (
        f"{name}: {count_after - count_before} more live tensors after {MEASURED_CALLS} calls "
        f"({bytes_after - bytes_before} bytes)"
    )
    # Storage held without a new tensor object (e.g. by an autograd node) shows in bytes: allow
    # less than one input's worth (2*3*8*8 float32 = 1536 bytes) per call.
    assert bytes_after - bytes_before < MEASURED_CALLS * x.numel() * x.element_size(), (
        f"{name}: live tensor storage grew by {bytes_after - bytes_before} bytes after "
        f"{MEASURED_CALLS} calls"
    )
