"""Gradient family: ours vs captum, IG against its floor, IG peak memory with chunking."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Dict, List, Tuple

import captum.attr as captum_attr
import numpy as np
import torch

import insight_widget.attr as ours_attr

from ..harness import Case, Section, run_memory_probe
from ..workloads import Workload, conv, mlp, text


def pair(family: str, algorithm: str, workload: Workload, construct: Dict[str, Any] | None = None,
         label: str = "", noise_tunnel: bool = False, seed: int | None = None,
         **kwargs: Any) -> Case:
    """A case running ``algorithm`` from both libraries on ``workload`` with ``kwargs``.

    ``noise_tunnel`` wraps the algorithm in NoiseTunnel; ``seed`` seeds torch and NumPy before
    every call of either side (stochastic methods then draw the same numbers, so the outputs
    can be compared; seeding costs both sides alike).
    """
    construct = construct or {}
    ours = getattr(ours_attr, algorithm)(workload.forward_func, **construct)
    theirs = getattr(captum_attr, algorithm)(workload.forward_func, **construct)
    if noise_tunnel:
        ours, theirs = ours_attr.NoiseTunnel(ours), captum_attr.NoiseTunnel(theirs)
    call = dict(target=workload.target, additional_forward_args=workload.additional_forward_args,
                **kwargs)
    prefix = "NoiseTunnel+" if noise_tunnel else ""
    name = f"{prefix}{algorithm}{('[' + label + ']') if label else ''} {workload.name}"

    def runner(explainer: Any) -> Callable[[], Any]:
        def run() -> Any:
            if seed is not None:
                torch.manual_seed(seed)
                np.random.seed(seed)
            return explainer.attribute(workload.inputs, **call)
        return run

    return Case(name, family, runner(ours), runner(theirs))


def references(workload: Workload, count: int = 4) -> torch.Tensor:
    """A fixed distribution of ``count`` reference examples shaped like the workload's inputs."""
    generator = torch.Generator().manual_seed(count)
    return 0.5 * torch.randn(count, *workload.inputs.shape[1:], generator=generator)


def cases() -> List[Case]:
    result: List[Case] = []
    for workload in (conv(), mlp(), text()):
        result.append(pair("gradient", "Saliency", workload))
        result.append(pair("gradient", "InputXGradient", workload))
        result.append(pair("gradient", "IntegratedGradients", workload))
        result.append(pair("gradient", "IntegratedGradients", workload, label="trapezoid+delta",
                           method="riemann_trapezoid", return_convergence_delta=True))
        result.append(pair("gradient", "DeepLift", workload, return_convergence_delta=True))
        result.append(pair("gradient", "DeepLiftShap", workload, baselines=references(workload)))
        result.append(pair("gradient", "GradientShap", workload, seed=0,
                           baselines=references(workload), stdevs=0.1,
                           return_convergence_delta=True))
        result.append(pair("gradient", "GuidedBackprop", workload))
        result.append(pair("gradient", "Deconvolution", workload))
        result.append(pair("gradient", "Saliency", workload, noise_tunnel=True, seed=0,
                           nt_samples=10, stdevs=0.2))
        result.append(pair("gradient", "IntegratedGradients", workload, label="vargrad",
                           noise_tunnel=True, seed=0, nt_type="vargrad", nt_samples=4,
                           nt_samples_batch_size=2, stdevs=0.1, n_steps=20))
    result.append(pair("gradient", "IntegratedGradients", conv(), label="ibs=64",
                       internal_batch_size=64))
    return result


def _median_time(fn: Callable[[], Any], rounds: int = 7) -> float:
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _floor_and_ig(workload: Workload, n_steps: int) -> Tuple[Callable[[], None],
                                                              Callable[[], None],
                                                              Callable[[], None]]:
    """(one forward+backward over the n_steps x N rows, our IG on the same work, a bare IG).

    The bare IG is a reference, not a product: the fewest kernels IG needs beyond the floor
    (build the path rows, weight-sum the gradients per step, multiply by the input; zero
    baseline, Gauss-Legendre) with no validation, no chunk planning and no checks. It shows
    how much of our distance to the floor is the algorithm itself rather than our overhead.
    """
    ig = ours_attr.IntegratedGradients(workload.forward_func)
    inputs = workload.inputs
    rows = inputs.repeat(n_steps, *([1] * (inputs.dim() - 1)))
    target = workload.target
    if isinstance(target, torch.Tensor):
        target = target.repeat(n_steps)
    elif isinstance(target, list):
        target = torch.tensor(target * n_steps)
    args = workload.additional_forward_args
    args = tuple(a.repeat(n_steps, *([1] * (a.dim() - 1))) for a in args) if args else ()
    index = torch.arange(rows.shape[0])

    def select(out: torch.Tensor) -> torch.Tensor:
        return out[:, target] if isinstance(target, int) else out[index, target]

    def floor() -> None:
        x = rows.detach().requires_grad_()
        torch.autograd.grad(select(workload.forward_func(x, *args)).sum(), x)

    def run_ig() -> None:
        ig.attribute(inputs, target=workload.target,
                     additional_forward_args=workload.additional_forward_args, n_steps=n_steps)

    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas = torch.tensor((nodes + 1) / 2, dtype=inputs.dtype).view(-1, *([1] * inputs.dim()))
    step_weights = torch.tensor(weights / 2, dtype=inputs.dtype)
    unexpanded_args = workload.additional_forward_args or ()

    def bare_ig() -> None:
        path = (alphas * inputs.unsqueeze(0)).reshape(rows.shape).requires_grad_()
        path_args = tuple(a.repeat(n_steps, *([1] * (a.dim() - 1))) for a in unexpanded_args)
        grads, = torch.autograd.grad(select(workload.forward_func(path, *path_args)).sum(), path)
        _ = torch.matmul(step_weights, grads.reshape(n_steps, -1)).reshape(inputs.shape) * inputs

    return floor, run_ig, bare_ig


def ig_floor() -> str:
    """IG time / time of one forward+backward over the same n_steps x N rows."""
    lines = []
    n_steps = 50
    for workload in (conv(), mlp(), text()):
        floor, run_ig, bare_ig = _floor_and_ig(workload, n_steps)
        t_ig, t_floor, t_bare = [], [], []
        for _ in range(5):
            t_floor.append(_median_time(floor, 3))
            t_ig.append(_median_time(run_ig, 3))
            t_bare.append(_median_time(bare_ig, 3))
        floor_time = statistics.median(t_floor)
        ratio = statistics.median(t_ig) / floor_time
        bare = statistics.median(t_bare) / floor_time
        lines.append(f"IG n_steps={n_steps} {workload.name}: {ratio:.3f} x floor "
                     f"({n_steps * len(workload.inputs)} rows, floor {1e3 * floor_time:.2f} ms; "
                     f"target <= 1.1; a bare hand-written IG: {bare:.3f} x floor)")
    return "\n".join(lines)


_MEMORY_PROBE = r"""
import json, sys, torch
from insight_widget.attr import IntegratedGradients
from insight_widget.testing import ResidualConvNet, image_batch, seeded
torch.set_num_threads(1)
model = seeded(ResidualConvNet); x = image_batch(4)
IntegratedGradients(model).attribute(x[:1], target=0, n_steps=2)   # warm up allocator
peak_growth = reset_peak()
IntegratedGradients(model).attribute(x, target=0, **json.loads(sys.argv[1]))
print(json.dumps({"peak_growth_kib": peak_growth()}))
"""


def ig_memory() -> str:
    """Peak RSS growth of IG: n_steps=500 chunked vs n_steps=50 in one pass (fresh process)."""
    base = run_memory_probe(_MEMORY_PROBE, {"n_steps": 50})
    chunked = run_memory_probe(_MEMORY_PROBE, {"n_steps": 500, "internal_batch_size": 200})
    budget = run_memory_probe(_MEMORY_PROBE, {"n_steps": 500})
    return (f"(fresh process per run, MALLOC_MMAP_THRESHOLD_=131072)\n"
            f"n_steps=50 one pass: {base:.1f} MiB; n_steps=500, internal_batch_size=200: "
            f"{chunked:.1f} MiB ({chunked / max(base, 1e-3):.2f} x; target <= 1.2); "
            f"n_steps=500 under the default memory budget (no internal_batch_size): "
            f"{budget:.1f} MiB")


def sections() -> List[Section]:
    return [Section("Integrated Gradients against its floor", ig_floor),
            Section("Integrated Gradients peak memory", ig_memory)]
