"""Running one registered method on one example and one model, and encoding the result.

Everything the UI can vary reaches the engine here: the method and its parsed arguments,
the target, the baseline of each feature, and which features are *active* — inactive features
are held fixed at their input value by a small wrapper module, so the attribution runs over the
active ones only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..attr.all_targets import attribute_all_targets
from ..attr.core import AttributionCancelled, attribution_progress, describe
from ..attr.speed import SpeedOptions, model_device, to_device
from .features import BaseFeature
from .registry import MethodSpec
from .wire import encode_tensor


@dataclass
class PreparedExample:
    """One example, ready for every model: raw and transformed inputs (batch dim 1)."""

    id: int
    position: int  # index in the dataset stream
    raw: Tuple[Tensor, ...]
    inputs: Tuple[Tensor, ...]
    additional_args: Optional[Tuple[Any, ...]]
    label: Optional[int]
    predictions: List[Dict[str, Any]] = field(default_factory=list)  # one per model


@dataclass
class Settings:
    """What the UI chose for an attribution run."""

    method: MethodSpec
    arguments: Dict[str, Any]
    baselines: List[str]  # one name per feature
    active: List[bool]  # one per feature
    #: opt-in speed options that are on: "autocast" (bfloat16), "channels_last"
    speed: Tuple[str, ...] = ()

    def key(self) -> str:
        parts = [self.method.name, repr(sorted(self.arguments.items(), key=lambda kv: kv[0])),
                 repr(self.baselines), repr(self.active), repr(self.speed)]
        return "|".join(parts)

    def full_precision(self) -> Settings:
        """The same settings without speed options (the reference for the error they cause)."""
        return Settings(self.method, self.arguments, self.baselines, self.active)


SPEED_OPTIONS = ("autocast", "channels_last")


def parse_speed(value: Any) -> Tuple[str, ...]:
    """``{"autocast": bool, "channels_last": bool}`` (either may be missing) -> the names of
    the options that are on, in :data:`SPEED_OPTIONS` order."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise TypeError(f"`speed` must be a dict of {list(SPEED_OPTIONS)} flags; "
                        f"got {describe(value)}.")
    unknown = sorted(set(value) - set(SPEED_OPTIONS))
    if unknown:
        raise ValueError(f"`speed` options must be among {list(SPEED_OPTIONS)}; got {unknown}.")
    for name, flag in value.items():
        if not isinstance(flag, bool):
            raise TypeError(f"`speed[{name!r}]` must be a bool; got {describe(flag)}.")
    return tuple(name for name in SPEED_OPTIONS if value.get(name))


class HeldFixed(nn.Module):
    """Calls ``model`` with the inactive inputs held at given values.

    ``forward(*active_inputs, *fixed_inputs, *additional_args)`` rebuilds the model's argument
    order. Fixed inputs travel as additional forward arguments so the engine repeats them along
    with the active inputs (path steps, samples, perturbations)."""

    def __init__(self, model: Callable[..., Any], active: Sequence[int], num_inputs: int) -> None:
        super().__init__()
        self.model = model
        self.active = list(active)
        self.fixed = [i for i in range(num_inputs) if i not in self.active]

    def forward(self, *args: Any) -> Any:
        count = len(self.active) + len(self.fixed)
        ordered: List[Any] = [None] * count
        for position, index in enumerate(self.active + self.fixed):
            ordered[index] = args[position]
        return self.model(*ordered, *args[count:])


def slice_args(args: Any, index: int, batch_size: int) -> Optional[Tuple[Any, ...]]:
    """Per-example additional args: tensors with dim 0 = batch size are sliced, others kept."""
    if args is None:
        return None
    items = args if isinstance(args, tuple) else (args,)
    return tuple(a[index:index + 1] if isinstance(a, Tensor) and a.dim() > 0
                 and a.shape[0] == batch_size else a for a in items)


def model_output(model: Callable[..., Any], inputs: Sequence[Tensor],
                 args: Optional[Tuple[Any, ...]],
                 score_func: Optional[Callable[[Tensor], Tensor]]) -> Tensor:
    """Scores (N, C) or (N,) of ``model`` on ``inputs`` (forward only: inference mode)."""
    device = model_device(model)
    with torch.inference_mode():
        out = model(*to_device(tuple(inputs), device), *to_device(tuple(args or ()), device))
        if score_func is not None:
            out = score_func(out)
    if not isinstance(out, Tensor):
        out = torch.as_tensor(out)
    return out.detach().float()


def top_predictions(scores: Tensor, num_classes: int, k: int = 4) -> List[List[Dict[str, Any]]]:
    """Top-k (index, score) per example; a scalar output gives one entry whose index is the
    class it points to (score >= 0.5 for probabilities, > 0 otherwise) when there are 2 classes."""
    n = scores.shape[0] if scores.dim() > 0 else 1
    flat = scores.reshape(n, -1)
    if flat.shape[1] == 1:
        out = []
        for value in flat[:, 0].tolist():
            threshold = 0.5 if 0.0 <= value <= 1.0 else 0.0
            index = int(value > threshold) if num_classes == 2 else 0
            out.append([{"index": index, "score": float(value), "scalar": True}])
        return out
    values, indices = flat.topk(min(k, flat.shape[1]), dim=1)
    return [[{"index": int(i), "score": float(v)} for v, i in zip(vs, ids)]
            for vs, ids in zip(values.tolist(), indices.tolist())]


def candidate_layers(model: Any) -> List[str]:
    """Names of the modules a layer method can look inside (containers excluded)."""
    if not isinstance(model, nn.Module):
        return []
    containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    return [name for name, module in model.named_modules()
            if name and not isinstance(module, containers)]


def default_layer(model: Any, token_ids: bool = False) -> Optional[str]:
    """The last convolution (Grad-CAM's usual choice), else the first embedding, else the last
    linear layer, else the last module. With ``token_ids`` (some model input holds integer
    ids) the first embedding comes first: it is where ids become vectors, so layer methods
    there give one score per token."""
    if not isinstance(model, nn.Module):
        return None
    named = [(n, m) for n, m in model.named_modules() if n]
    order = [((nn.Conv1d, nn.Conv2d, nn.Conv3d), -1), ((nn.Embedding,), 0), ((nn.Linear,), -1)]
    if token_ids:
        order.insert(0, order.pop(1))
    for kinds, pick in order:
        matches = [n for n, m in named if isinstance(m, kinds)]
        if matches:
            return matches[pick]
    layers = candidate_layers(model)
    return layers[-1] if layers else None


def _layer_output_shape(model: nn.Module, layer: nn.Module, inputs: Sequence[Tensor],
                        args: Optional[Tuple[Any, ...]], to_input: bool) -> torch.Size:
    seen: List[torch.Size] = []

    def hook(_module, module_inputs, output):
        value = module_inputs[0] if to_input else output
        value = value[0] if isinstance(value, (tuple, list)) else value
        seen.append(value.shape)

    handle = layer.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(*inputs, *(args or ()))
    finally:
        handle.remove()
    if not seen:
        raise ValueError("the chosen layer is not used in the model's forward pass.")
    return seen[0]


#: receives each intermediate result of a progressive (anytime) run, wire-ready
PartialListener = Callable[[Dict[str, Any]], None]


class PartialMapsCallback:
    """The engine's progress callback for a run whose maps are shown as they fill in: passes
    fractions on, and takes the partial attributions the engine offers (``report_partial``)
    when the listener is ready for one (its ``ready()``, e.g. a throttle), encoding them only
    then."""

    def __init__(self, progress: Callable[[float], Any], listener: PartialListener,
                 encode: Callable[[Tuple[Tensor, ...]], Dict[str, Any]]) -> None:
        self.progress, self.listener, self.encode = progress, listener, encode

    def __call__(self, fraction: float) -> Any:
        return self.progress(fraction)

    def partial_result(self, make: Callable[[], Tuple[Tensor, ...]]) -> None:
        ready = getattr(self.listener, "ready", None)
        if ready is None or ready():
            self.listener(self.encode(make()))


@dataclass
class EngineCall:
    """One engine call: ``method.attribute(inputs, **kwargs)``."""

    method: Any  # an insight_widget.attr attribution object
    inputs: Tuple[Tensor, ...]  # the active features' inputs
    kwargs: Dict[str, Any]
    active: List[int]  # feature index of each input
    layer_name: Optional[str] = None
    #: the model as the method sees it (inactive features held fixed): for metrics
    forward: Any = None


@dataclass
class Outcome:
    """A finished run for one (example, model): wire-ready."""

    wire: Dict[str, Any]
    attributions: Optional[Tuple[Tensor, ...]] = None  # per active feature (input methods)
    layer: Optional[Tensor] = None


class AttributionRunner:
    """Runs methods for the visualiser's models and features."""

    def __init__(self, models: Sequence[Any], features: Sequence[BaseFeature],
                 token_ids: bool = False) -> None:
        self.models = list(models)
        self.features = list(features)
        self.layer_names = [candidate_layers(m) for m in self.models]
        self.default_layers = [default_layer(m, token_ids) for m in self.models]

    # -- pieces of a call ---------------------------------------------------------------------
    def _layer(self, model_index: int, chosen: Any) -> Tuple[str, nn.Module]:
        model = self.models[model_index]
        names = chosen if isinstance(chosen, list) else [chosen]
        name = names[model_index] if model_index < len(names) else None
        name = name or self.default_layers[model_index]
        if name not in self.layer_names[model_index]:
            raise ValueError(f"`layer` of model {model_index} must be one of its modules "
                             f"{self.layer_names[model_index][:8]}...; got {name!r}.")
        return name, model.get_submodule(name)

    def _baselines(self, settings: Settings, example: PreparedExample,
                   active: Sequence[int], mode: str) -> Tuple[Tensor, ...]:
        out = []
        if mode == "single":
            for i in active:
                out.append(self.features[i].make_baseline(settings.baselines[i],
                                                          example.inputs[i]))
            return tuple(out)
        # distribution: the chosen baseline first, then the feature's other choices, cycled
        # to a common count so every input has the same number of reference samples
        choices = []
        for i in active:
            names = self.features[i].baseline_names()
            chosen = settings.baselines[i]
            choices.append([chosen] + [n for n in names if n != chosen])
        count = max(2, *(len(c) for c in choices))
        for i, names in zip(active, choices):
            samples = [self.features[i].make_baseline(names[k % len(names)], example.inputs[i])
                       for k in range(count)]
            out.append(torch.cat(samples, 0))
        return tuple(out)

    def _masks(self, settings: Settings, example: PreparedExample,
               active: Sequence[int]) -> Tuple[Tensor, ...]:
        spec = settings.method
        mode = settings.arguments.get("feature_mask", "patches")
        patch = settings.arguments.get("patch_size", 4)
        masks, offset = [], 0
        for i in active:
            mask = self.features[i].feature_mask(example.inputs[i].shape[1:], mode, patch)
            masks.append(mask + offset)
            offset += int(mask.max()) + 1
        if spec.max_groups is not None and offset > spec.max_groups:
            raise ValueError(
                f"{spec.name} evaluates all {offset}! orderings of the {offset} feature "
                f"groups; choose a larger patch_size so there are at most {spec.max_groups} "
                f"groups, or use {spec.alternative or 'a sampling method'}.")
        return tuple(masks)

    def _windows(self, settings: Settings, example: PreparedExample, active: Sequence[int]):
        size = settings.arguments["sliding_window"]
        stride = settings.arguments["strides"]
        pairs = [self.features[i].occlusion_window(example.inputs[i].shape[1:], size, stride)
                 for i in active]
        if len(pairs) == 1:  # one input: Captum's plain tuple-of-ints form
            return pairs[0]
        return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)

    @staticmethod
    def _neuron(flat: int, forward: Callable[..., Any], layer: nn.Module, layer_name: str,
                inputs: Sequence[Tensor], args: Tuple[Any, ...]) -> Tuple[int, ...]:
        """The flat neuron index as an index tuple into the layer's output (batch dim dropped)."""
        shape = tuple(_layer_output_shape(forward, layer, inputs, args or None, False)[1:])
        count = math.prod(shape)
        if flat >= count:
            raise ValueError(f"`neuron` must be < {count} (the layer {layer_name!r} has "
                             f"output shape {shape}); got {flat}.")
        return tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), shape))

    # -- the call -------------------------------------------------------------------------------
    def build_call(self, example: PreparedExample, model_index: int, settings: Settings,
                   target: Optional[int]) -> EngineCall:
        """The engine call for ``settings``, built from the registry's declarations only.

        Each argument goes where its role says (constructor, ``attribute`` keyword, layer,
        neuron, per-feature window/mask); the method's own fields say whether it takes a
        target, which baselines, and whether it returns a convergence delta. A wrapper
        (NoiseTunnel) is built around the method its "base" argument names, whose baseline
        mode then applies.
        """
        spec, arguments = settings.method, settings.arguments
        active = [i for i, on in enumerate(settings.active) if on]
        if not active:
            raise ValueError("no feature is active: turn at least one modality on.")
        num_inputs = len(self.features)
        model = self.models[model_index]
        if settings.speed:
            # the layer a layer method looks inside stays a submodule of the wrapped model
            model = SpeedOptions(model, autocast="autocast" in settings.speed,
                                 channels_last="channels_last" in settings.speed)
        forward = model if len(active) == num_inputs else HeldFixed(model, active, num_inputs)
        # a model on CUDA/MPS gets everything on its device; results come back through the
        # wire encoder, which copies them to the CPU
        device = model_device(self.models[model_index])
        inputs = to_device(tuple(example.inputs[i] for i in active), device)
        args = to_device(tuple(example.inputs[i] for i in range(num_inputs) if i not in active)
                         + tuple(example.additional_args or ()), device)

        init: Dict[str, Any] = {}
        kwargs: Dict[str, Any] = {}
        layer_name: Optional[str] = None
        layer: Optional[nn.Module] = None
        roles = {argument.role for argument in spec.arguments}
        for argument in spec.arguments:
            value = arguments[argument.name]
            if argument.role == "init":
                init[argument.name] = value
            elif argument.role == "attribute" and value is not None:
                kwargs[argument.name] = value
            elif argument.role == "layer":
                layer_name, layer = self._layer(model_index, value)

        engine = spec.engine()
        base = spec.wrapped(arguments)
        if base is not None:
            method = engine(base.engine()(forward))
        elif layer is not None:
            method = engine(forward, layer, **init)
        else:
            method = engine(forward, **init)

        if kwargs.get("delta_tolerance") is not None:
            # Anytime Integrated Gradients: n_steps becomes the budget of nodes per example.
            kwargs["step_budget"] = kwargs.pop("n_steps")
            kwargs["n_steps"] = "auto"
            kwargs.pop("method", None)
        if spec.target:
            kwargs["target"] = target
        if args:
            kwargs["additional_forward_args"] = args
        baselines = (base or spec).baselines
        if baselines != "none":
            kwargs["baselines"] = to_device(
                self._baselines(settings, example, active, baselines), device)
        if "window" in roles:
            kwargs["sliding_window_shapes"], kwargs["strides"] = self._windows(
                settings, example, active)
        if "mask" in roles:
            kwargs["feature_mask"] = to_device(self._masks(settings, example, active), device)
        if "neuron" in roles:
            kwargs["neuron_selector"] = self._neuron(arguments["neuron"], forward, layer,
                                                     layer_name, inputs, args)
        if spec.delta:
            kwargs["return_convergence_delta"] = True
        return EngineCall(method, inputs, kwargs, active, layer_name, forward)

    def _empty_wire(self, spec: MethodSpec, model_index: int,
                    target: Optional[int]) -> Dict[str, Any]:
        return {"model": model_index, "method": spec.name,
                "target": target if spec.target else None,
                "attribution": [None] * len(self.features), "layer": None,
                "contributions": [None] * len(self.features), "delta": None,
                "error": None, "warning": None}

    def run(self, example: PreparedExample, model_index: int, settings: Settings,
            target: Optional[int], progress: Optional[Callable[[float], Any]] = None) -> Outcome:
        """Attribute ``example`` for model ``model_index``; errors become the wire ``error``.

        A method in anytime mode (``n_steps="auto"`` with ``attribute_progressive``) streams:
        if ``progress`` has a ``partial`` attribute (a :data:`PartialListener`), it receives
        the wire form of every refinement round but the final one, as it arrives, marked
        ``"partial": True``.
        """
        started = time.perf_counter()
        spec = settings.method
        wire = self._empty_wire(spec, model_index, target)
        try:
            call = self.build_call(example, model_index, settings, target)
            listener = getattr(progress, "partial", None)
            callback: Any = progress or (lambda fraction: None)
            if listener is not None and not spec.delta and spec.output == "input":
                # perturbation methods offer their chunks' partial maps (report_partial)
                callback = PartialMapsCallback(callback, listener,
                                               lambda values: self._encode_partial(
                                                   spec, call, values, wire, started))
            with attribution_progress(callback):
                if self.is_progressive(call):
                    outcome = self._run_progressive(spec, call, wire, started,
                                                    getattr(progress, "partial", None))
                else:
                    result = call.method.attribute(call.inputs, **call.kwargs)
                    outcome = self._encode(spec, call, result, wire)
        except AttributionCancelled:
            raise
        except Exception as error:  # shown next to the example; the widget keeps working
            wire["error"] = f"{type(error).__name__}: {error}"
            outcome = Outcome(wire)
        wire["seconds"] = round(time.perf_counter() - started, 4)
        return outcome

    def _encode_partial(self, spec: MethodSpec, call: EngineCall, values: Tuple[Tensor, ...],
                        wire: Dict[str, Any], started: float) -> Dict[str, Any]:
        """A perturbation method's attributions so far, wire-ready and marked partial."""
        shown = dict(wire, attribution=list(wire["attribution"]),
                     contributions=list(wire["contributions"]))
        self._encode(spec, call, values, shown)
        shown.update(partial=True, seconds=round(time.perf_counter() - started, 4))
        return shown

    @staticmethod
    def is_progressive(call: EngineCall) -> bool:
        """Whether ``call`` runs anytime IG, whose rounds can be shown as they finish."""
        return (call.kwargs.get("n_steps") == "auto"
                and hasattr(call.method, "attribute_progressive"))

    def _run_progressive(self, spec: MethodSpec, call: EngineCall, wire: Dict[str, Any],
                         started: float, partial: Optional[PartialListener]) -> Outcome:
        """Iterate ``attribute_progressive``; each round that is not the last (``final``) goes
        to ``partial`` as soon as it arrives, when the listener is ready for one (the last
        round is the outcome): the first map shows after the first round, not the second.
        Cancelling raises from inside the iteration (progress callback), so the listener's
        last map is the last one shown."""
        kwargs = {k: v for k, v in call.kwargs.items()
                  if k not in ("n_steps", "return_convergence_delta")}
        rounds = call.method.attribute_progressive(call.inputs, **kwargs)
        ready = getattr(partial, "ready", lambda: True)
        previous = None
        for current in rounds:
            if not current.final and partial is not None and ready():
                shown = dict(wire, attribution=list(wire["attribution"]),
                             contributions=list(wire["contributions"]))
                self._encode_round(spec, call, current, shown)
                shown.update(partial=True, seconds=round(time.perf_counter() - started, 4))
                partial(shown)
            previous = current
        assert previous is not None  # the engine yields at least one round
        return self._encode_round(spec, call, previous, wire)

    def _encode_round(self, spec: MethodSpec, call: EngineCall, result: Any,
                      wire: Dict[str, Any]) -> Outcome:
        """Encode one AnytimeResult: the map, its delta, and the anytime fields ``steps``
        (nodes spent), ``converged`` and ``relative_delta`` = |δ| / |F(x) − F(x')|, where
        F(x) − F(x') = Σ attributions − δ (completeness)."""
        # the anytime rounds always carry a delta (Neuron IG's is w.r.t. the neuron), even
        # when the method's Captum form returns none
        outcome = self._encode(spec, call, (result.attributions, result.delta) if spec.delta
                               else result.attributions, wire)
        wire["delta"] = float(result.delta.float().mean())
        values = result.attributions if isinstance(result.attributions, (tuple, list)) \
            else (result.attributions,)
        delta = float(result.delta.double().sum())
        change = sum(float(v.detach().double().sum()) for v in values) - delta
        wire["relative_delta"] = abs(delta) / abs(change) if change != 0.0 else None
        wire["steps"] = int(result.steps.max())
        wire["converged"] = bool(result.converged.all())
        return outcome

    def supports_all_targets(self, settings: Settings) -> bool:
        """Whether maps of several targets can come from one engine call: a method with a
        target, attributing to the inputs, not wrapped (NoiseTunnel draws its own noise)."""
        spec = settings.method
        return spec.target and spec.output == "input" and spec.wrapped(settings.arguments) is None

    def run_targets(self, example: PreparedExample, model_index: int, settings: Settings,
                    targets: Sequence[int], progress: Optional[Callable[[float], Any]] = None
                    ) -> List[Outcome]:
        """One outcome per target, all from one ``attribute_all_targets`` call (the engine
        batches the k targets: one backward over k output rows, or shared perturbed forwards).
        """
        started = time.perf_counter()
        spec = settings.method
        wires = [self._empty_wire(spec, model_index, t) for t in targets]
        try:
            call = self.build_call(example, model_index, settings, None)
            kwargs = dict(call.kwargs)
            kwargs.pop("target", None)
            with attribution_progress(progress or (lambda fraction: None)):
                result = attribute_all_targets(call.method, call.inputs,
                                               torch.tensor([list(targets)]), **kwargs)
            outcomes = []
            for j, wire in enumerate(wires):
                if spec.delta:
                    values, delta = result
                    one: Any = (_target_slice(values, j), delta[:, j])
                else:
                    one = _target_slice(result, j)
                outcomes.append(self._encode(spec, call, one, wire))
        except AttributionCancelled:
            raise
        except Exception as error:
            for wire in wires:
                wire["error"] = f"{type(error).__name__}: {error}"
            outcomes = [Outcome(wire) for wire in wires]
        seconds = round(time.perf_counter() - started, 4)
        for wire in wires:
            wire["seconds"] = seconds
        return outcomes

    def _encode(self, spec: MethodSpec, call: EngineCall, result: Any,
                wire: Dict[str, Any]) -> Outcome:
        """Fill ``wire`` from the engine's result (attributions, layer map, delta)."""
        if spec.delta:
            result, delta = result
            wire["delta"] = float(torch.as_tensor(delta).float().mean())
        if spec.output == "layer":
            layer_value = result[0] if isinstance(result, (tuple, list)) else result
            wire["layer"] = encode_layer(layer_value, call.layer_name)
            return Outcome(wire, layer=layer_value)
        attributions = result if isinstance(result, tuple) else (result,)
        skipped = []
        for i, attribution in zip(call.active, attributions):
            feature = self.features[i]
            if attribution.numel() == 0:
                # e.g. Guided Grad-CAM for an input whose shape the layer map cannot be
                # interpolated to: Captum returns an empty tensor for it
                skipped.append(feature.name)
                continue
            wire["attribution"][i] = feature.encode_attribution(attribution)
            wire["contributions"][i] = float(attribution.detach().float().sum())
        if skipped:
            wire["warning"] = (f"{spec.name} gives no attribution for {', '.join(skipped)}: its "
                               "shape does not match the layer's output.")
        return Outcome(wire, attributions=tuple(attributions))


def _target_slice(value: Any, index: int) -> Any:
    """Target ``index`` of an all-targets result (N, k, ...) as a one-target result (N, ...)."""
    if isinstance(value, tuple):
        return tuple(v[:, index] for v in value)
    return value[:, index]


def encode_layer(value: Tensor, layer_name: Optional[str]) -> Dict[str, Any]:
    """A layer attribution (1, ...) for display: spatial maps are channel-summed (h, w),
    sequences summed over the hidden dim (L,), anything else flattened."""
    values = value.detach().float()
    values = values[0] if values.dim() > 1 and values.shape[0] == 1 else values
    if values.dim() == 3:
        kind, shown = "spatial", values.sum(0)
    elif values.dim() == 2:
        kind, shown = "sequence", values.sum(-1)
    else:
        kind, shown = "vector", values.reshape(-1)
    return {"kind": kind, "name": layer_name, "shape": list(values.shape),
            "values": encode_tensor(shown, "float16")}
