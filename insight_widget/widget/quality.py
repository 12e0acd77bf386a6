"""The per-example quality panel: how faithful and how stable is the map shown for one example?

For one (example, model, settings, target) the panel measures the shown method's attribution
with four metrics of :mod:`insight_widget.metrics`, one after another, each sent to the front
end as soon as it is known (a ``quality`` message per part, like the maps stream):

``deletion``    score while the most relevant pixels/features are replaced by zeros, most
                relevant first (RISE); curve (n + 1,) and its AUC: **lower is better**.
``insertion``   score while they are copied into a blurred copy (images) or zeros (other
                inputs); curve and AUC: **higher is better**.
``infidelity``  E[(I^T Phi - (f(x) - f(x - I)))^2] over Gaussian perturbations I, with
                ``normalize=True`` (Phi scaled by the optimal beta) so methods of different
                scales compare: **lower is better**.
``sensitivity`` max_k ||Phi(x + d_k) - Phi(x)|| / ||Phi(x)|| over d_k uniform in the
                L-infinity ball of radius 0.02 (``sensitivity_max``'s defaults): **lower is
                better**; it re-runs the method ``SAMPLES`` times, so it comes last.

The attribution is computed once more here (the session caches only its wire form, which is
channel-summed and float16), through the same :meth:`AttributionRunner.build_call` as the map;
perturbations come from a generator seeded per request, so asking again gives the same numbers.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import torch
from torch import Tensor

from ..attr.core import AttributionCancelled, attribution_progress
from ..metrics import deletion, infidelity, insertion, sensitivity_max
from .attribution import AttributionRunner, EngineCall, PreparedExample, Settings
from .wire import encode_tensor

#: the parts in the order they are computed and sent (cheapest and most telling first)
PARTS = ("deletion", "insertion", "infidelity", "sensitivity")
#: share of the job's progress bar each step takes: the attribution, then the parts
SPANS = {"attribution": 0.15, "deletion": 0.2, "insertion": 0.2, "infidelity": 0.15,
         "sensitivity": 0.3}
#: perturbations per example for infidelity and max-sensitivity (Captum's default)
SAMPLES = 10
#: standard deviation of infidelity's Gaussian perturbations, as a fraction of the input's std
NOISE = 0.1
SEED = 0

Progress = Callable[[float], Any]
#: makes the progress callback of one step from its (start, span) in the job's [0, 1]
ProgressFor = Callable[[float, float, str], Progress]
#: receives each finished part: {"part", "value", "curve"?, "error"?}
OnPart = Callable[[Dict[str, Any]], None]


def _gaussian_perturbation(generator: torch.Generator) -> Callable[..., Any]:
    """``perturb_func`` for :func:`infidelity`: I ~ N(0, (NOISE * std(x))^2) per element,
    returning ``(I, x - I)`` for every input tensor (the std is each input's own, so the noise
    follows the input's scale whatever its normalisation)."""

    def perturb(inputs: Any) -> Tuple[Any, Any]:
        items = inputs if isinstance(inputs, tuple) else (inputs,)
        noises = []
        for x in items:
            sigma = NOISE * float(x.float().std()) if x.numel() > 1 else NOISE
            noises.append(torch.randn(x.shape, generator=generator, dtype=x.dtype) * sigma)
        noises = [n.to(x.device) for n, x in zip(noises, items)]
        perturbed = tuple(x - n for x, n in zip(items, noises))
        if isinstance(inputs, tuple):
            return tuple(noises), perturbed
        return noises[0], perturbed[0]

    return perturb


def _uniform_perturbation(generator: torch.Generator) -> Callable[..., Any]:
    """``perturb_func`` for :func:`sensitivity_max`: x + d, d uniform in [-r, r] (the default
    perturbation's distribution, drawn from the request's seeded generator)."""

    def perturb(inputs: Any, radius: float) -> Any:
        items = inputs if isinstance(inputs, tuple) else (inputs,)
        moved = tuple(x + ((torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1)
                           * radius).to(x.device) for x in items)
        return moved if isinstance(inputs, tuple) else moved[0]

    return perturb


def _metric_target(call: EngineCall, example: PreparedExample, model_index: int) -> Any:
    """The output the metrics score: the attribution's target, else the top prediction when
    the model gives class scores (a scalar output needs none)."""
    target = call.kwargs.get("target")
    if target is not None:
        return target
    predictions = example.predictions[model_index] if model_index < len(
        example.predictions) else []
    if predictions and not predictions[0].get("scalar"):
        return int(predictions[0]["index"])
    return None


def _attributions(call: EngineCall, result: Any, method_name: str) -> Tuple[Tensor, ...]:
    """The input attributions of an engine result (delta dropped); layer maps have no
    counterpart in the input space the metrics perturb, so they are refused."""
    if call.kwargs.get("return_convergence_delta"):
        result = result[0]
    if call.layer_name is not None and not _input_shaped(result, call.inputs):
        raise ValueError(f"the quality panel measures attributions of the inputs; {method_name} "
                         f"attributes to layer {call.layer_name!r}. Choose an input method.")
    attributions = result if isinstance(result, tuple) else (result,)
    if any(a.numel() == 0 for a in attributions):
        raise ValueError(f"{method_name} gives no attribution for some input here.")
    return tuple(a.detach() for a in attributions)


def _input_shaped(result: Any, inputs: Tuple[Tensor, ...]) -> bool:
    items = result if isinstance(result, tuple) else (result,)
    return len(items) == len(inputs) and all(
        isinstance(a, Tensor) and a.shape == x.shape for a, x in zip(items, inputs))


def evaluate_quality(runner: AttributionRunner, example: PreparedExample, model_index: int,
                     settings: Settings, target: Optional[int], progress_for: ProgressFor,
                     on_part: OnPart, should_stop: Callable[[], bool]) -> None:
    """Compute the parts of :data:`PARTS` for the map of ``settings`` on ``example``.

    Each finished part goes to ``on_part`` as ``{"part", "value", "curve"?}`` (``curve`` a
    float32 wire tensor of n + 1 scores at the uniform fractions k / n); a part that fails
    gives ``{"part", "value": None, "error"}`` and the next part still runs. Errors that
    concern the whole request (no such layer, a layer method) raise. ``should_stop`` is
    checked between parts; within a part the progress callback cancels
    (``AttributionCancelled``).
    """
    call = runner.build_call(example, model_index, settings, target)
    method_name = settings.method.name
    with attribution_progress(progress_for(0.0, SPANS["attribution"], f"{method_name}: "
                                           "attribution for the quality panel")):
        attributions = _attributions(call, call.method.attribute(call.inputs, **call.kwargs),
                                     method_name)
    forward = call.forward
    args = call.kwargs.get("additional_forward_args")
    metric_target = _metric_target(call, example, model_index)
    images = all(x.dim() == 4 for x in call.inputs)
    generator = torch.Generator().manual_seed(SEED)

    def explanation(inputs: Any, **kwargs: Any) -> Any:
        # the method as the map ran it; target and forward args arrive repeated per sample
        fixed = {k: v for k, v in call.kwargs.items()
                 if k not in ("target", "additional_forward_args",
                              "return_convergence_delta")}
        result = call.method.attribute(inputs, **fixed, **kwargs)
        return result[0] if call.kwargs.get("return_convergence_delta") else result

    def curve_part(metric: Callable[..., Any], substrate: str) -> Dict[str, Any]:
        result = metric(forward, call.inputs, attributions, target=metric_target,
                        additional_forward_args=args, substrate=substrate)
        return {"value": float(result.auc[0]), "curve": encode_tensor(result.curve[0].float())}

    steps: Dict[str, Callable[[], Dict[str, Any]]] = {
        "deletion": lambda: curve_part(deletion, "zeros"),
        "insertion": lambda: curve_part(insertion, "blur" if images else "zeros"),
        "infidelity": lambda: {"value": float(infidelity(
            forward, _gaussian_perturbation(generator), call.inputs, attributions,
            additional_forward_args=args, target=metric_target,
            n_perturb_samples=SAMPLES, normalize=True)[0])},
        "sensitivity": lambda: {"value": float(sensitivity_max(
            explanation, call.inputs, perturb_func=_uniform_perturbation(generator),
            n_perturb_samples=SAMPLES, **_sensitivity_kwargs(call))[0])},
    }
    start = SPANS["attribution"]
    for part in PARTS:
        if should_stop():
            return
        label = f"{method_name}: {part} of example {example.position}, model {model_index}"
        try:
            with attribution_progress(progress_for(start, SPANS[part], label)):
                found = steps[part]()
            on_part({"part": part, **found})
        except AttributionCancelled:
            raise
        except Exception as error:  # shown next to the example; the other parts still run
            on_part({"part": part, "value": None, "error": f"{type(error).__name__}: {error}"})
        start += SPANS[part]


def _sensitivity_kwargs(call: EngineCall) -> Dict[str, Any]:
    """What ``sensitivity_max`` repeats per perturbed copy: the target and forward args."""
    kwargs = {}
    for name in ("target", "additional_forward_args"):
        if call.kwargs.get(name) is not None:
            kwargs[name] = call.kwargs[name]
    return kwargs
