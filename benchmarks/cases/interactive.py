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
from typing import Any, Callable, List, Tuple

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


def _passes_at_captum_50_delta(model: nn.Module, x: Tensor, target: Tensor, scale: Tensor
                               ) -> Tuple[List[int], List[float]]:
    """Per example: the relative delta of Captum's default (50 Gauss-Legendre steps) and the
    passes anytime IG spends to reach it (its tolerance set to that delta)."""
    _, delta = captum_attr.IntegratedGradients(model).attribute(
        x, target=target, n_steps=50, return_convergence_delta=True)
    relative = _relative(delta, scale).tolist()
    ig = IntegratedGradients(model)
    passes = []
    for e, tolerance in enumerate(relative):
        final = last_result(ig.attribute_progressive(
            x[e:e + 1], target=target[e:e + 1], delta_tolerance=max(tolerance, 1e-6)))
        passes.append(int(final.steps[0]))
    return passes, relative


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
        equal = _passes_at_captum_50_delta(model, x, target, scale)
        lines.append(f"    at the delta Captum's 50-step default reaches per example "
                     f"{[f'{d:.4f}' for d in equal[1]]} (relative): ours passes {equal[0]}, "
                     f"{50 * len(equal[0]) / sum(equal[0]):.2f}x fewer than 50 (goal >= 2)")
        ours_err = _error(final.attributions, reference)
        captum_err = _error(torch.cat(captum_maps), reference)
        lines.append(f"    attr err ours {[f'{v:.3f}' for v in ours_err]}; Captum at its n "
                     f"{[f'{v:.3f}' for v in captum_err]}")
    return "\n".join(lines)


def _timed(fn: Callable[[], Any]) -> Tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _both(fn: Callable[[], Any]) -> Tuple[float, float, Any]:
    """(wall seconds, process CPU seconds, value) of one call: the CPU time is steadier on a
    shared machine (other jobs' load shows in the wall time only)."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def _span(values: List[float], digits: int = 2) -> str:
    return f"{min(values):.{digits}f}" if len(values) == 1 or round(min(values), digits) == \
        round(max(values), digits) else f"{min(values):.{digits}f}-{max(values):.{digits}f}"


REPEATS = 2


def _anytime_example(ig: IntegratedGradients, x: Tensor, target: Tensor
                     ) -> Tuple[float, float, int]:
    """(seconds to the first round, seconds to the last, nodes) of one example's anytime IG."""
    start = time.perf_counter()
    first = None
    steps = 0
    for result in ig.attribute_progressive(x, target=target, delta_tolerance=TOLERANCE):
        first = time.perf_counter() - start if first is None else first
        steps = int(result.steps[0])
    assert first is not None
    return first, time.perf_counter() - start, steps


def _forward_backward(model: nn.Module, x: Tensor, targets: Tensor) -> Tuple[float, float]:
    """CPU seconds of the forward (building the graph) and of one input-gradient backward."""
    z = x.detach().clone().requires_grad_()
    forward, _, selected = _both(lambda: model(z).gather(1, targets[:, None]).sum())
    backward, _, _ = _both(lambda: torch.autograd.grad(selected, z))
    return forward, backward


def _interactive_one(name: str, model: nn.Module, x: Tensor) -> List[str]:
    lines = []
    with torch.no_grad():
        model(x)  # warm-up (first-call kernel selection) of the forward ...
    _forward_backward(model, x[:1], torch.zeros(1, dtype=torch.long))  # ... and the backward
    ratios = []
    for _ in range(REPEATS):  # interleaved: plain forward of the batch, then predictions
        with torch.no_grad():
            plain, _ = _timed(lambda: model(x))
        t_pred, logits = _timed(lambda: predict(model, x))
        ratios.append(t_pred / plain)
    target = logits.argmax(1)
    lines.append(f"{name}: predictions {t_pred:.2f} s = {_span(ratios)} x one forward of the "
                 f"batch ({REPEATS} interleaved runs; goal <= 1.5)")
    with torch.no_grad():
        scale = model(x).gather(1, target[:, None])[:, 0] - model(
            torch.zeros_like(x)).gather(1, target[:, None])[:, 0]
    # Captum's n_steps per example (the search is not timed), then both timed example by
    # example, interleaved, as the visualiser streams them.
    captum_steps, _ = _captum_smallest(model, x, target, scale)
    ig = IntegratedGradients(model)
    ig_c = captum_attr.IntegratedGradients(model)
    for repeat in range(REPEATS):
        first, ours_all, c_first, c_all, ours_cpu, c_cpu = None, 0.0, None, 0.0, 0.0, 0.0
        ours_steps: List[int] = []
        for e, n in enumerate(captum_steps):
            wall, cpu, (t_first, _, steps) = _both(
                lambda e=e: _anytime_example(ig, x[e:e + 1], target[e:e + 1]))
            first = ours_all + t_first if first is None else first
            ours_all, ours_cpu = ours_all + wall, ours_cpu + cpu
            ours_steps.append(steps)
            wall, cpu, _ = _both(lambda e=e, n=n: ig_c.attribute(
                x[e:e + 1], target=target[e:e + 1], n_steps=abs(n),
                return_convergence_delta=True))
            c_first = wall if c_first is None else c_first
            c_all, c_cpu = c_all + wall, c_cpu + cpu
        lines.append(
            f"    run {repeat + 1}: anytime IG example after example: first map {first:.2f} s "
            f"(goal <= 2 s), every map converged {ours_all:.2f} s, passes {ours_steps}; Captum "
            f"GL at the smallest n_steps reaching the rule {[abs(n) for n in captum_steps]}: "
            f"first map {c_first:.2f} s, all {c_all:.2f} s; ours/Captum all: wall "
            f"{ours_all / c_all:.2f}, CPU {ours_cpu / c_cpu:.2f} (goal <= 0.5)")
    lines.extend(_top_targets(model, ig, x[:1]))
    steps = 16
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


def _top_targets(model: nn.Module, ig: IntegratedGradients, x: Tensor) -> List[str]:
    """Top-5 targets against one (IG, 16 steps, 1 example), interleaved, in CPU time; and the
    floor of exact gradients, one forward + k backwards: (F + kB) / (F + B) with F and B
    measured on the same 16 path rows."""
    steps, k = 16, 5
    with torch.no_grad():
        top = model(x).topk(k, dim=1).indices
    ratios, floors = [], []
    for _ in range(REPEATS):
        _, one, _ = _both(lambda: ig.attribute(x, target=top[:, 0], n_steps=steps))
        _, five, _ = _both(lambda: attribute_all_targets(ig, x, top, n_steps=steps))
        forward, backward = _forward_backward(model, x.expand(steps, *x.shape[1:]),
                                              top[:, 0].expand(steps))
        ratios.append(five / one)
        floors.append((forward + k * backward) / (forward + backward))
    return [f"    top-{k} targets (IG {steps} steps, 1 example, CPU time): {_span(ratios)} x one "
            f"target (goal <= 1.5); forward {forward:.2f} s / input-gradient backward "
            f"{backward:.2f} s on the {steps} rows: floor of one forward + {k} backwards "
            f"{_span(floors)} x"]


def visualiser_fetch(model: nn.Module, images: Tensor) -> Tuple[float, float, float]:
    """Kernel side of a Fetch in the visualiser (default settings: anytime IG), as the
    JupyterLab e2e test clicks it but without the browser: seconds from the request until
    every example message (predictions) is sent, until the first map is sent, and until
    the fetch is done."""
    import torch.nn.functional as functional

    from insight_widget import AttributionVisualizer, Batch, ImageFeature

    visualizer = AttributionVisualizer(
        models=[model], classes=[f"class {i}" for i in range(1000)],
        features=[ImageFeature("Photo", baseline_transforms=[lambda x: x * 0],
                               input_transforms=[])],
        dataset=[Batch(images, torch.arange(len(images)))],
        score_func=lambda o: functional.softmax(o, 1))
    widget = visualizer.widget()
    sent: List[Tuple[float, str]] = []
    widget.send = lambda content, buffers=None: sent.append((time.perf_counter(),
                                                             content.get("type")))
    start = time.perf_counter()
    widget._handle_msg({"content": {"data": {"method": "custom", "content": {
        "type": "fetch", "id": 1, "filters": {"num_examples": len(images)}}}}, "buffers": []})
    assert widget.session.wait(600), "the fetch did not finish"
    examples = [t for t, kind in sent if kind == "example"]
    maps = [t for t, kind in sent if kind == "result"]
    done = [t for t, kind in sent if kind == "done"]
    widget.session.close()
    return examples[-1] - start, maps[0] - start, done[0] - start


_MEMORY_PROBE = r"""
import json, sys, torch
from benchmarks.cases.interactive import resnet50
from insight_widget.attr import IntegratedGradients, set_memory_budget
torch.set_num_threads(2)
model = resnet50(); x = torch.randn(1, 3, 224, 224)
set_memory_budget(json.loads(sys.argv[1])["budget"])
IntegratedGradients(model).attribute(x, target=0, n_steps=2)
peak_growth = reset_peak()
IntegratedGradients(model).attribute(x, target=0, n_steps="auto", step_budget=33,
                                   delta_tolerance=1e-9)  # all 33 nodes
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
        model = build()
        lines.extend(_interactive_one(name, model, x))
        if name.startswith("ResNet"):
            photos = torch.rand(EXAMPLES, 3, 224, 224,
                                generator=torch.Generator().manual_seed(1))
            for run in range(REPEATS):
                predictions, first, every = visualiser_fetch(model, photos)
                lines.append(f"    visualiser Fetch (kernel side, no browser), run {run + 1}: "
                             f"predictions {predictions:.2f} s, first map {first:.2f} s (goal "
                             f"<= 2 s), every map {every:.2f} s")
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
