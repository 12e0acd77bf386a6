"""Interactive family (opt-in: ``--family interactive``): what a person at the visualiser waits for.

Sections:

* **Convergence on trained models** (the bundled demos; random weights make paths nearly
  linear, so convergence is judged here): per example, the gradient evaluations ("passes", one
  forward + backward row each) anytime IG spends to reach |delta| <= 1% of |F(x) - F(x')|,
  against the smallest Captum Gauss-Legendre n_steps of 25/50/100/200 reaching the same rule;
  and the attribution error of both against a 4096-step reference (delta is a proxy only).
* **Timings on ImageNet-size architectures** (transformers ResNet-50 and ViT-B/16 built from
  their configs with seeded random weights, no downloads; and the demo CNN), 4 examples:
  predictions (one batched forward under inference_mode vs a plain forward), first map and
  every map converged (anytime IG example after example, as the visualiser streams them) vs
  Captum IG one example after another at the smallest n_steps reaching the same delta; top-5
  targets vs one target; bfloat16 autocast / channels-last speed and attribution error; peak
  memory of anytime IG against the memory budget.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, List, Optional, Tuple

import captum.attr as captum_attr
import torch
from torch import Tensor, nn

from insight_widget.attr import IntegratedGradients, get_memory_budget
from insight_widget.attr._utils.anytime import last_result
from insight_widget.attr.all_targets import attribute_all_targets
from insight_widget.attr.speed import SpeedOptions, predict

from ..harness import Section, run_memory_probe

OPT_IN = True  # heavy: run only when asked with --family interactive
TOLERANCE = 0.01
CAPTUM_STEPS = (25, 50, 100, 200)
EXAMPLES = 4


class Logits(nn.Module):
    """A transformers image classifier returning the logits tensor."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: Tensor) -> Tensor:
        return self.model(pixel_values=pixel_values).logits


def resnet50() -> nn.Module:
    from transformers import ResNetConfig, ResNetForImageClassification
    torch.manual_seed(0)
    return Logits(ResNetForImageClassification(ResNetConfig(num_labels=1000))).eval()


def vit_b16() -> nn.Module:
    from transformers import ViTConfig, ViTForImageClassification
    torch.manual_seed(0)
    return Logits(ViTForImageClassification(ViTConfig(num_labels=1000))).eval()


def demo_cnn() -> Tuple[nn.Module, Tensor]:
    from insight_widget.examples import shapes
    images, _ = shapes.make_dataset(EXAMPLES, seed=5)
    return shapes.load_model(), shapes.normalize(images)


def _relative(values: Tensor, scale: Tensor) -> Tensor:
    return values.abs() / scale.abs().clamp_min(1e-12)


def _captum_smallest(model: nn.Module, x: Tensor, target: Tensor, scale: Tensor
                     ) -> Tuple[List[int], List[Tensor]]:
    """Per example: the smallest Captum GL n_steps reaching the rule (200 if none does)."""
    ig = captum_attr.IntegratedGradients(model)
    chosen: List[int] = []
    maps: List[Tensor] = []
    for e in range(x.shape[0]):
        for n in CAPTUM_STEPS:
            attribution, delta = ig.attribute(x[e:e + 1], target=target[e:e + 1], n_steps=n,
                                              return_convergence_delta=True)
            if float(_relative(delta, scale[e:e + 1])) <= TOLERANCE or n == CAPTUM_STEPS[-1]:
                reached = float(_relative(delta, scale[e:e + 1])) <= TOLERANCE
                chosen.append(n if reached else -n)
                maps.append(attribution)
                break
    return chosen, maps


def _error(a: Tensor, reference: Tensor) -> List[float]:
    a, reference = a.flatten(1).double(), reference.flatten(1).double()
    return ((a - reference).norm(dim=1) / reference.norm(dim=1).clamp_min(1e-30)).tolist()


def _trained_models() -> List[Tuple[str, nn.Module, Tensor]]:
    from insight_widget.examples import shapes, tabular
    model, x = demo_cnn()
    table, _ = tabular.make_dataset(8, seed=5)
    images, _ = shapes.make_dataset(8, seed=7)
    return [("demo CNN (shapes)", model, shapes.normalize(images)),
            ("demo CNN (shapes, 2nd draw)", model, x),
            ("demo MLP (tabular)", tabular.load_model(), table)]


def convergence() -> str:
    lines = [f"rule: |delta| <= {TOLERANCE} |F(x) - F(x')|, zero baseline, predicted class; "
             "passes = gradient rows per example (Captum adds 2 forward rows for its delta); "
             "'>200' = Captum's 200 steps miss the rule; attr err = relative L2 error vs a "
             "4096-step midpoint reference"]
    ratios = []
    for name, model, x in _trained_models():
        with torch.no_grad():
            target = model(x).argmax(1)
            scale = model(x).gather(1, target[:, None])[:, 0] - model(
                torch.zeros_like(x)).gather(1, target[:, None])[:, 0]
        ig = IntegratedGradients(model)
        final = last_result(ig.attribute_progressive(x, target=target,
                                                     delta_tolerance=TOLERANCE))
        reference = ig.attribute(x, target=target, n_steps=4096, method="riemann_middle")
        captum_steps, captum_maps = _captum_smallest(model, x, target, scale)
        ours = final.steps.tolist()
        met = [float(v) <= TOLERANCE for v in _relative(final.delta, scale)]
        captum_cost = [abs(n) for n in captum_steps]
        ratios.append(sum(captum_cost) / sum(ours))
        ratios_default = 50 * len(ours) / sum(ours)
        lines.append(
            f"{name}, {len(ours)} examples: ours passes {ours} (rule met: {sum(met)}/{len(met)}, "
            f"mean {statistics.mean(ours):.1f}); Captum GL smallest n "
            f"{[str(n) if n > 0 else '>200' for n in captum_steps]} "
            f"(mean {statistics.mean(captum_cost):.1f}); Captum/ours passes at equal rule "
            f"{ratios[-1]:.2f}x; vs Captum's 50-step default {ratios_default:.2f}x (goal >= 2)")
        ours_err = _error(final.attributions, reference)
        captum_err = _error(torch.cat(captum_maps), reference)
        lines.append(f"    attr err ours {[f'{v:.3f}' for v in ours_err]}; Captum at its n "
                     f"{[f'{v:.3f}' for v in captum_err]}")
    return "\n".join(lines)


def _timed(fn: Callable[[], Any]) -> Tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _interactive_one(name: str, model: nn.Module, x: Tensor) -> List[str]:
    lines = []
    plain, _ = _timed(lambda: model(x))  # warm-up and the plain forward of the batch
    plain, _ = _timed(lambda: model(x))
    t_pred, logits = _timed(lambda: predict(model, x))
    target = logits.argmax(1)
    lines.append(f"{name}: predictions {t_pred:.2f} s = {t_pred / plain:.2f} x one forward of "
                 f"the batch (goal <= 1.5)")
    with torch.no_grad():
        scale = model(x).gather(1, target[:, None])[:, 0] - model(
            torch.zeros_like(x)).gather(1, target[:, None])[:, 0]
    ig = IntegratedGradients(model)
    start = time.perf_counter()
    first: Optional[float] = None
    ours_steps: List[int] = []
    for e in range(x.shape[0]):
        last = None
        for partial in ig.attribute_progressive(x[e:e + 1], target=target[e:e + 1],
                                                delta_tolerance=TOLERANCE):
            if first is None:
                first = time.perf_counter() - start
            last = partial
        assert last is not None
        ours_steps.append(int(last.steps[0]))
    ours_all = time.perf_counter() - start
    t_captum, (captum_steps, _) = _timed(lambda: _captum_smallest(model, x, target, scale))
    # Captum's time for the steps it needed only (the search also ran smaller n_steps).
    ig_c = captum_attr.IntegratedGradients(model)
    t_captum = 0.0
    t_captum_first = None
    for e, n in enumerate(captum_steps):
        t, _ = _timed(lambda e=e, n=n: ig_c.attribute(
            x[e:e + 1], target=target[e:e + 1], n_steps=abs(n), return_convergence_delta=True))
        t_captum += t
        t_captum_first = t if t_captum_first is None else t_captum_first
    lines.append(
        f"    anytime IG example after example: first map {first:.2f} s (goal <= 2 s), every "
        f"map converged {ours_all:.2f} s, passes {ours_steps}; Captum GL at the smallest "
        f"n_steps reaching the rule {[abs(n) for n in captum_steps]}: first map "
        f"{t_captum_first:.2f} s, all {t_captum:.2f} s; ours/Captum all {ours_all / t_captum:.2f}"
        f" (goal <= 0.5)")
    steps = 16
    one, _ = _timed(lambda: ig.attribute(x[:1], target=target[:1], n_steps=steps))
    with torch.no_grad():
        top5 = model(x[:1]).topk(5, dim=1).indices
    five, _ = _timed(lambda: attribute_all_targets(ig, x[:1], top5, n_steps=steps))
    lines.append(f"    top-5 targets (IG {steps} steps, 1 example): {five / one:.2f} x one target "
                 f"(goal <= 1.5)")
    for label, fast in (("bfloat16 autocast", SpeedOptions(model, autocast=True)),
                        ("channels-last", SpeedOptions(model, channels_last=True))):
        ig_fast = IntegratedGradients(fast)
        ig_fast.attribute(x[:1], target=target[:1], n_steps=2)
        t_fast, a_fast = _timed(lambda ig_fast=ig_fast: ig_fast.attribute(
            x[:1], target=target[:1], n_steps=steps))
        t_full, a_full = _timed(lambda: ig.attribute(x[:1], target=target[:1], n_steps=steps))
        error = _error(a_fast, a_full)[0]
        lines.append(f"    {label}: IG {steps} steps {t_fast / t_full:.2f} x the float32 time, "
                     f"attribution error {error:.4f} (relative L2)")
    return lines


_MEMORY_PROBE = r"""
import json, sys, torch
from benchmarks.cases.interactive import resnet50
from insight_widget.attr import IntegratedGradients, set_memory_budget
torch.set_num_threads(2)
model = resnet50(); x = torch.randn(1, 3, 224, 224)
set_memory_budget(json.loads(sys.argv[1])["budget"])
IntegratedGradients(model).attribute(x, target=0, n_steps=2)
peak_growth = reset_peak()
IntegratedGradients(model).attribute(x, target=0, n_steps="auto", step_budget=33)
print(json.dumps({"peak_growth_kib": peak_growth()}))
"""


def timings() -> str:
    torch.manual_seed(0)
    lines = ["(machine shared with other jobs: times are noisy; ratios interleaved in one "
             "process)"]
    _, demo_x = demo_cnn()
    models: List[Tuple[str, Callable[[], nn.Module], Tensor]] = [
        ("demo CNN 32x32", lambda: demo_cnn()[0], demo_x),
        ("ResNet-50 (random weights) 224x224", resnet50, torch.randn(EXAMPLES, 3, 224, 224)),
        ("ViT-B/16 (random weights) 224x224", vit_b16, torch.randn(EXAMPLES, 3, 224, 224)),
    ]
    for name, build, x in models:
        lines.extend(_interactive_one(name, build(), x))
    budget = 256 << 20
    peak = run_memory_probe(_MEMORY_PROBE, {"budget": budget})
    lines.append(f"ResNet-50 anytime IG (1 example, up to 33 nodes) peak RSS growth {peak:.0f} MiB"
                 f" under a {budget >> 20} MiB memory budget (default budget "
                 f"{get_memory_budget() >> 20} MiB)")
    return "\n".join(lines)


def cases() -> list:
    return []


def sections() -> List[Section]:
    return [Section("Anytime IG convergence on trained models", convergence),
            Section("Interactive timings (anytime IG, top-5, speed options)", timings)]


__all__ = ["convergence", "resnet50", "sections", "timings", "vit_b16"]
