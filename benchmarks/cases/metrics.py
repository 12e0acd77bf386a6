"""Metrics family: infidelity and sensitivity_max, ours vs captum; deletion curve passes."""

from __future__ import annotations

import statistics
import time
import warnings
from typing import Any, Callable, List

import captum.attr as captum_attr
import captum.metrics as captum_metrics
import torch

import insight_widget.attr as ours_attr
import insight_widget.metrics as ours_metrics
from insight_widget.testing import ResidualConvNet, image_batch, seeded

from ..harness import Case, Section
from ..workloads import Workload, conv, mlp

SEED = 0


def gaussian_perturbation(inputs: torch.Tensor):
    """(perturbations, perturbed inputs), the same callable for both libraries."""
    noise = 0.05 * torch.randn_like(inputs)
    return noise, inputs - noise


def _seeded(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        torch.manual_seed(SEED)
        return fn()

    return run


def _attributions(workload: Workload) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ours_attr.Saliency(workload.forward_func).attribute(
            workload.inputs, target=workload.target, abs=False).detach()


def infidelity_case(workload: Workload, label: str = "", **kwargs: Any) -> Case:
    attributions = _attributions(workload)
    call = dict(target=workload.target, additional_forward_args=workload.additional_forward_args,
                **kwargs)

    def ours() -> Any:
        return ours_metrics.infidelity(workload.forward_func, gaussian_perturbation,
                                       workload.inputs, attributions, **call)

    def theirs() -> Any:
        return captum_metrics.infidelity(workload.forward_func, gaussian_perturbation,
                                         workload.inputs, attributions, **call)

    name = f"infidelity{('[' + label + ']') if label else ''} {workload.name}"
    return Case(name, "metrics", _seeded(ours), _seeded(theirs),
                note="same seed, same perturbations; ours runs perturbed forwards under no_grad",
                target_ratio=1.0)


def sensitivity_case(workload: Workload, shared_explainer: bool = False, **kwargs: Any) -> Case:
    """Each library explains with its own Saliency (what a user swapping imports gets), or
    both with captum's Saliency (the metric's own overhead)."""
    ours_explainer = (captum_attr if shared_explainer else ours_attr).Saliency(
        workload.forward_func).attribute
    captum_explainer = captum_attr.Saliency(workload.forward_func).attribute
    call = dict(target=workload.target, **kwargs)

    def ours() -> Any:
        return ours_metrics.sensitivity_max(ours_explainer, workload.inputs, **call)

    def theirs() -> Any:
        return captum_metrics.sensitivity_max(captum_explainer, workload.inputs, **call)

    label = "captum Saliency in both" if shared_explainer else "own Saliency"
    return Case(f"sensitivity_max[{label}] {workload.name}", "metrics", _seeded(ours),
                _seeded(theirs), target_ratio=1.0)


def cases() -> List[Case]:
    result: List[Case] = []
    for workload in (conv(), mlp()):
        result.append(infidelity_case(workload))
        result.append(infidelity_case(workload, label="normalize",
                                      normalize=True, n_perturb_samples=20))
        result.append(infidelity_case(workload, label=f"mepb={2 * len(workload.inputs)}",
                                      max_examples_per_batch=2 * len(workload.inputs)))
        result.append(sensitivity_case(workload))
        result.append(sensitivity_case(workload, shared_explainer=True))
    return result


def _median_seconds(fn: Callable[[], Any], rounds: int = 5) -> float:
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def deletion_passes() -> str:
    """Deletion curve of 8 images 3x32x32 (ResidualConvNet): batched vs one pass per step."""
    model = seeded(ResidualConvNet)
    images = image_batch(8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        attributions = ours_attr.Saliency(model).attribute(images, target=0)
    step = 32  # 1024 pixels -> 32 steps
    n_steps = 1024 // step
    calls = []
    hook = model.register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
    try:
        result = ours_metrics.deletion(model, images, attributions, step=step)
    finally:
        hook.remove()

    order = attributions.sum(1).reshape(8, -1).argsort(dim=1, descending=True)

    def step_by_step() -> torch.Tensor:
        """The straightforward loop: one forward pass of the N images per step."""
        scores = []
        with torch.no_grad():
            probabilities = model(images).softmax(1)
            predicted = probabilities.argmax(1)
            scores.append(probabilities.gather(1, predicted[:, None]).squeeze(1))
            current = images.clone()
            for k in range(1, n_steps + 1):
                pixels = order[:, (k - 1) * step:k * step]
                flat = current.reshape(8, 3, -1)
                flat.scatter_(2, pixels[:, None, :].expand(-1, 3, -1), 0.0)
                output = model(current).softmax(1)
                scores.append(output.gather(1, predicted[:, None]).squeeze(1))
        return torch.stack(scores, 1)

    loop_curve = step_by_step()
    agree = torch.allclose(loop_curve, result.curve, atol=1e-5)
    batched = _median_seconds(lambda: ours_metrics.deletion(model, images, attributions,
                                                            step=step))
    loop = _median_seconds(step_by_step)
    return (f"8 images 3x32x32, step {step} pixels -> {n_steps} steps: {n_steps + 1} forward "
            f"rows per example ({n_steps} perturbed + the unperturbed one, reused), in "
            f"{len(calls)} forward passes for the batch (rows per pass {calls}); batched "
            f"{1e3 * batched:.1f} ms vs one pass per step {1e3 * loop:.1f} ms "
            f"({batched / loop:.2f} x); curves agree: {agree}")


def sections() -> List[Section]:
    return [Section("Deletion curve in batched passes", deletion_passes, ["metrics"])]
