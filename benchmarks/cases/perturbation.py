"""Perturbation family: ours vs captum at the same arguments, at each library's defaults
(per-pixel ablation and occlusion of a 3x32x32 conv net), on compute-bound CNNs (a 32-channel
residual CNN here; transformers' ResNet-50 at 224x224 in :func:`slow_cases`), and peak memory
under the budget.

Case labels say which batching is compared: "defaults" leaves ``perturbations_per_eval`` at 1
(Captum: one perturbed copy per forward pass; ours: the engine's batching, target <= 0.8x
Captum's time); "ppe=k" passes the same value to both (the same passes, target <= 1.0x)."""

from __future__ import annotations

import statistics
import time
from functools import partial
from typing import Any, Callable, Dict, List

import captum.attr as captum_attr
import torch
from torch.utils.data import DataLoader, TensorDataset

import insight_widget.attr as ours_attr

from ..harness import Agreement, Case, Section, allclose_agreement, run_memory_probe
from ..workloads import Workload, conv, mlp, resnet50, text, wide_conv
from .gradient import pair

FAMILY = "perturbation"
# KernelShap: float64 least squares against Captum's float32 scikit-learn fit.
kernel_shap_agreement = partial(allclose_agreement, rtol=1e-4, atol=1e-5)


def patches(size: int = 32, patch: int = 4, channels: int = 3) -> torch.Tensor:
    """Feature mask (1, C, H, W): one group per ``patch`` x ``patch`` square per channel."""
    side = size // patch
    grid = torch.arange(side * side).reshape(side, side)
    grid = grid.repeat_interleave(patch, 0).repeat_interleave(patch, 1)
    return (grid.unsqueeze(0) + side * side * torch.arange(channels).view(-1, 1, 1)).unsqueeze(0)


def grid_mask(size: int, cells: int) -> torch.Tensor:
    """Feature mask (1, 1, H, W): a ``cells`` x ``cells`` grid of square patches, each one group
    across all channels (the mask broadcasts over them)."""
    patch = size // cells
    grid = torch.arange(cells * cells).reshape(cells, cells)
    return grid.repeat_interleave(patch, 0).repeat_interleave(patch, 1).view(1, 1, size, size)


def tokens(length: int = 12) -> torch.Tensor:
    return torch.arange(length).view(1, length, 1)


def dataloader_case() -> Case:
    workload = mlp()
    loader = DataLoader(TensorDataset(workload.inputs), batch_size=16)
    ours = ours_attr.DataLoaderAttribution(ours_attr.FeatureAblation(workload.model))
    theirs = captum_attr.DataLoaderAttribution(captum_attr.FeatureAblation(workload.model))
    return Case(f"DataLoaderAttribution[FeatureAblation] {workload.name}", FAMILY,
                lambda: ours.attribute(loader), lambda: theirs.attribute(loader))


def cases() -> List[Case]:
    image, rows, words, few_rows = conv(), mlp(), text(), mlp(batch=16)
    result = [
        pair(FAMILY, "FeatureAblation", image, label="4x4 patches", feature_mask=patches()),
        pair(FAMILY, "FeatureAblation", image, label="4x4 patches, ppe=32",
             feature_mask=patches(), perturbations_per_eval=32),
        pair(FAMILY, "Occlusion", image, label="3x8x8 stride 4",
             sliding_window_shapes=(3, 8, 8), strides=(3, 4, 4)),
        pair(FAMILY, "Occlusion", image, label="3x8x8 stride 4, ppe=16",
             sliding_window_shapes=(3, 8, 8), strides=(3, 4, 4), perturbations_per_eval=16),
        pair(FAMILY, "FeatureAblation", rows),
        pair(FAMILY, "FeaturePermutation", rows, seed=0),
        pair(FAMILY, "ShapleyValueSampling", rows, seed=0),
        pair(FAMILY, "ShapleyValues", rows, label="5 groups",
             feature_mask=(torch.arange(12) * 5).div(12, rounding_mode="floor").view(1, 12)),
        pair(FAMILY, "FeatureAblation", words, label="tokens", feature_mask=tokens()),
        pair(FAMILY, "ShapleyValueSampling", words, label="tokens", seed=0,
             feature_mask=tokens(), n_samples=10),
        pair(FAMILY, "Lime", few_rows, label="50 samples", seed=0, n_samples=50),
        pair(FAMILY, "Lime", words, label="tokens", seed=0, feature_mask=tokens()),
        dataloader_case(),
    ]
    result.extend(compute_bound_cases(wide_conv()))
    for workload, label, extra in ((few_rows, "50 samples", {}),
                                   (words, "tokens", {"feature_mask": tokens()})):
        case = pair(FAMILY, "KernelShap", workload, label=label, seed=0, n_samples=50, **extra)
        case.compare = kernel_shap_agreement
        result.append(case)
    return result


def _targeted(case: Case, label: str, image: Workload) -> Case:
    """``case`` with the target ratio its batching label promises (see the module docstring),
    compared at the rounding of ``image``'s outputs (:func:`layout_agreement`)."""
    case.target_ratio = 0.8 if "defaults" in label else 1.0
    case.compare = layout_agreement(image)
    return case


def layout_agreement(image: Workload, rtol: float = 1e-5) -> Callable[[Any, Any], Agreement]:
    """Agreement of ablation maps of a CNN whose perturbed rows we run channels-last
    (attr/_utils/layout.py) and Captum runs NCHW: each map value is a difference of two
    outputs, and each output carries float32 rounding relative to the *outputs'* scale (the
    same products summed in another order), not to the (possibly tiny) difference. So the
    absolute tolerance is ``rtol`` times the largest |output| of the unperturbed batch
    (ResNet-50 with random weights: logits up to ~120, differences up to ~2e-4 measured)."""
    with torch.no_grad():
        scale = image.forward_func(image.inputs).abs().max().item()
    return partial(allclose_agreement, rtol=rtol, atol=rtol * scale)


def compute_bound_cases(image: Workload) -> List[Case]:
    """Patch ablation, occlusion at three typical windows, Shapley sampling and permutation of
    16 patches on a CNN whose convolutions take the time (not Python), at both batchings."""
    side = image.inputs.shape[-1]
    mask = grid_mask(side, 4)
    calls = [
        ("FeatureAblation", "16 patches, defaults", {"feature_mask": mask}),
        ("FeatureAblation", "16 patches, ppe=4", {"feature_mask": mask,
                                                  "perturbations_per_eval": 4}),
        ("FeaturePermutation", "16 patches, defaults", {"feature_mask": mask, "seed": 0}),
        ("ShapleyValueSampling", "16 patches, 2 samples, defaults",
         {"feature_mask": mask, "n_samples": 2, "seed": 0}),
    ]
    for window, stride in ((side // 4, side // 8), (side // 2, side // 4), (side // 8, side // 8)):
        shape = {"sliding_window_shapes": (3, window, window), "strides": (3, stride, stride)}
        calls.append(("Occlusion", f"3x{window}x{window} stride {stride}, defaults", shape))
    calls.append(("Occlusion", f"3x{side // 4}x{side // 4} stride {side // 8}, ppe=7",
                  {"sliding_window_shapes": (3, side // 4, side // 4),
                   "strides": (3, side // 8, side // 8), "perturbations_per_eval": 7}))
    return [_targeted(pair(FAMILY, algorithm, image, label=label, **kwargs), label, image)
            for algorithm, label, kwargs in calls]


def slow_cases() -> List[Case]:
    """transformers' ResNet-50 at 224x224 (a forward on 4 images takes 0.25-1 s on two cores):
    the 32-channel CNN's workloads at the same proportions of the image (16 patches; an
    occlusion window of a quarter of the side at an eighth's stride, 49 positions), and
    quadrant ablation and a 3x3 occlusion (windows of half the side, whose perturbed boxes
    reach the whole map by the third stage: the least incremental evaluation can save);
    none without transformers."""
    image = resnet50()
    if image is None:
        return []
    quadrants, patches16 = grid_mask(224, 2), grid_mask(224, 4)
    calls = [
        ("FeatureAblation", "16 patches, defaults", {"feature_mask": patches16}),
        ("FeatureAblation", "16 patches, ppe=4", {"feature_mask": patches16,
                                                  "perturbations_per_eval": 4}),
        ("Occlusion", "3x56x56 stride 28, defaults",
         {"sliding_window_shapes": (3, 56, 56), "strides": (3, 28, 28)}),
        ("FeatureAblation", "4 quadrants, defaults", {"feature_mask": quadrants}),
        ("FeatureAblation", "4 quadrants, ppe=2", {"feature_mask": quadrants,
                                                   "perturbations_per_eval": 2}),
        ("Occlusion", "3x112x112 stride 56, defaults",
         {"sliding_window_shapes": (3, 112, 112), "strides": (3, 56, 56)}),
    ]
    return [_targeted(pair(FAMILY, algorithm, image, label=label, **kwargs), label, image)
            for algorithm, label, kwargs in calls]


def _once(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def default_arguments() -> str:
    """Per-pixel FeatureAblation and 1x1x1 Occlusion of a 3x32x32 conv net (2 images), each
    library at its default arguments (Captum: one ablated copy per forward pass)."""
    workload = conv(batch=2)
    lines = []
    for name, kwargs in (("FeatureAblation", {}),
                         ("Occlusion", {"sliding_window_shapes": (1, 1, 1)})):
        ours = getattr(ours_attr, name)(workload.model)
        theirs = getattr(captum_attr, name)(workload.model)

        def run(explainer: Any, kwargs: Dict[str, Any] = kwargs) -> Any:
            return explainer.attribute(workload.inputs, target=workload.target, **kwargs)

        run(ours)  # warm-up (allocator, oneDNN kernels)
        ours_seconds = statistics.median(_once(partial(run, ours)) for _ in range(3))
        start = time.perf_counter()
        theirs_out = run(theirs)  # Captum's one-copy-per-pass run is long: timed once
        theirs_seconds = time.perf_counter() - start
        agreement: Agreement = allclose_agreement(run(ours), theirs_out)
        speedup = theirs_seconds / ours_seconds
        lines.append(f"{name} per element {workload.name} (3072 perturbations): captum "
                     f"{theirs_seconds:.2f} s, ours {ours_seconds:.2f} s: {speedup:.1f}x faster "
                     f"(target >= 5x), identical outputs: {agreement.agree} "
                     f"(max |diff| {agreement.max_abs_diff:.2e})")
    return "\n".join(lines)


_MEMORY_PROBE = r"""
import json, sys, torch
from insight_widget.attr import FeatureAblation, memory_budget
from insight_widget.testing import ResidualConvNet, image_batch, seeded
torch.set_num_threads(1)
model = seeded(ResidualConvNet); x = image_batch(4)
with memory_budget(1):
    FeatureAblation(model).attribute(x[:1, :, :4, :4], target=0)   # warm up allocator
kwargs = json.loads(sys.argv[1])
budget = kwargs.pop("budget")
peak_growth = reset_peak()
with memory_budget(budget):
    FeatureAblation(model).attribute(x, target=0, **kwargs)
print(json.dumps({"peak_growth_kib": peak_growth()}))
"""


def peak_memory() -> str:
    """Peak RSS growth of per-pixel FeatureAblation (4 images, 3072 perturbations) with
    perturbations_per_eval=3072 (all copies in one pass, as Captum would) under budgets."""
    lines = ["(fresh process per run, MALLOC_MMAP_THRESHOLD_=131072, 1 thread)"]
    one_copy = run_memory_probe(_MEMORY_PROBE, {"budget": 1})
    lines.append(f"one copy per pass (budget 1 byte): {one_copy:.1f} MiB")
    for mib in (64, 256):
        growth = run_memory_probe(_MEMORY_PROBE,
                                  {"budget": mib << 20, "perturbations_per_eval": 3072})
        lines.append(f"perturbations_per_eval=3072, budget {mib} MiB: {growth:.1f} MiB "
                     f"(target <= budget + one-copy baseline = {mib + one_copy:.1f} MiB)")
    unbounded = 3072 * 4 * (3 * 8 * 32 * 32 * 4) / 2 ** 20
    lines.append(f"(3072 copies x 4 images in one pass would hold >= {unbounded:.0f} MiB of "
                 "first-layer activations alone)")
    return "\n".join(lines)


def sections() -> List[Section]:
    return [Section("Perturbation methods at each library's default arguments",
                    default_arguments),
            Section("Perturbation peak memory with a large perturbations_per_eval",
                    peak_memory)]
