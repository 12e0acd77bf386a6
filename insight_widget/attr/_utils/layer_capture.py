"""Capturing (and replacing) what a layer receives or produces during a forward pass.

Gradients with respect to the captured tensors are in ``layer_autograd.py``.

Layer and neuron algorithms look at the tensors a layer produces, or receives when
``attribute_to_layer_input=True``. :func:`run_with_layers` runs the model once with forward
(pre-)hooks, registered through :class:`HookSet` so they are removed whatever happens, that

* record those tensors for every requested layer. A layer returning a tuple records every tensor
  of it (a "multi-output" layer); a layer that runs several times keeps its last call;
* optionally substitute given tensors for them (Layer Integrated Gradients evaluates the model
  with a layer's output set to points on a path in layer space; layer ablation sets neurons to
  baselines).

Recording protects the recorded values from in-place operations further on (e.g. an in-place
ReLU after the layer): with ``track_gradients`` the model continues with a copy of the recorded
tensor, so gradients w.r.t. the recorded tensor are gradients w.r.t. the layer's true output;
without, the record is a copy. A recorded tensor that does not require grad (frozen weights,
inputs without grad) becomes a leaf that does, so gradients w.r.t. layers never need the model
inputs to require grad.

Under ``nn.DataParallel`` each replica's hook records its slice of the batch on its device; the
slices are concatenated in ``device_ids`` order (``device_ids`` from the algorithm, or from the
``DataParallel`` model itself).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from .forward import as_output_tensor, module_of, rows_are_independent
from .hooks import HookSet, module_name, resolve_modules
from .inputs import expand_additional_forward_args, forward_arguments
from .neuron_selector import NeuronSelector
from .target import Target
from .validation import describe

LayerSpec = Union[nn.Module, List[nn.Module]]
Replacement = Tuple[Tensor, ...]


class LazyModuleName:
    """A module's dotted name in the model, looked up only when printed (error messages)."""

    def __init__(self, model: Optional[nn.Module], module: nn.Module) -> None:
        self.model, self.module = model, module

    def __str__(self) -> str:
        return module_name(self.model, self.module)


def layers_as_list(layer: Any) -> Tuple[List[nn.Module], bool]:
    """``(modules, was_list)`` for a layer given as a module or a list of modules."""
    if isinstance(layer, nn.Module):
        return [layer], False
    if isinstance(layer, (list, tuple)) and layer and all(isinstance(m, nn.Module) for m in layer):
        return list(layer), True
    raise TypeError(
        f"`layer` must be a torch.nn.Module of the model or a non-empty list of them; got "
        f"{describe(layer)}."
    )


def resolve_device_ids(forward_func: Callable[..., Any], device_ids: Optional[List[int]]
                       ) -> Optional[List[int]]:
    """``device_ids`` given to the algorithm, else those of a ``DataParallel`` forward_func."""
    if device_ids is not None:
        if not isinstance(device_ids, (list, tuple)) or not all(
                isinstance(i, int) for i in device_ids):
            raise TypeError(
                f"`device_ids` must be a list of ints or None; got {describe(device_ids)}."
            )
        return list(device_ids)
    model = module_of(forward_func)
    if isinstance(model, nn.DataParallel) and model.device_ids:
        return list(model.device_ids)
    return None


def _split_tensors(values: Any, what: str, name: str) -> Tuple[Tuple[Tensor, ...], bool]:
    """The tensors of a layer's output (tensor or tuple) or positional inputs (tuple)."""
    if isinstance(values, Tensor):
        return (values,), False
    if isinstance(values, (tuple, list)) and values and all(isinstance(v, Tensor) for v in values):
        return tuple(values), len(values) > 1
    raise TypeError(
        f"layer '{name}' {what} {describe(values)}; layer attribution needs a tensor or a tuple "
        "of tensors."
    )


@dataclass
class LayerRecord:
    """What one layer produced (or received): its tensors, and whether they form a tuple."""

    tensors: Tuple[Tensor, ...]
    is_tuple: bool

    def restore(self, values: Sequence[Tensor]) -> Union[Tensor, Tuple[Tensor, ...]]:
        """``values`` shaped like this record's tensors, as a tuple or a lone tensor."""
        return tuple(values) if self.is_tuple else values[0]


class _Recorder:
    """Forward hooks recording (and optionally replacing) each layer's tensors per device.

    Unless ``protect``, records are the layer's own tensors (no copy) and their version
    counters are noted: :meth:`modified` then tells whether something modified one in place
    later in the forward pass, in which case the caller runs again with ``protect``, where the
    model continues with copies (in-place layers and in-place operations after the layer are
    rare; copying every time would cost each call a memory copy of the layer).
    """

    def __init__(self, model: Optional[nn.Module], layers: Sequence[nn.Module], to_input: bool,
                 track_gradients: bool, replacements: Optional[Sequence[Replacement]],
                 device_ids: Optional[List[int]], protect: bool) -> None:
        self.model = model
        self.layers = list(layers)
        self.to_input = to_input
        self.track_gradients = track_gradients
        self.replacements = replacements
        self.device_ids = device_ids
        self.protect = protect
        self.records: List[Dict[torch.device, Tuple[Tensor, ...]]] = [{} for _ in layers]
        self.versions: List[Dict[torch.device, Tuple[int, ...]]] = [{} for _ in layers]
        self.is_tuple: List[bool] = [False] * len(self.layers)
        self._lock = threading.Lock()

    def name(self, index: int) -> str:
        return module_name(self.model, self.layers[index])

    def modified(self) -> bool:
        """Whether a recorded tensor was modified in place after it was recorded."""
        return any(tuple(t._version for t in self.records[i][d]) != versions
                   for i, by_device in enumerate(self.versions)
                   for d, versions in by_device.items())

    def install(self, hooks: HookSet) -> None:
        for index, layer in enumerate(self.layers):
            if self.to_input:
                hooks.forward_pre_hook(layer, self._input_hook(index))
            else:
                hooks.forward_hook(layer, self._output_hook(index))

    def _input_hook(self, index: int) -> Callable[..., Any]:
        def hook(_module: nn.Module, args: Tuple[Any, ...]) -> Any:
            tensors, positions = [], []
            for position, value in enumerate(args):
                if isinstance(value, Tensor):
                    tensors.append(value)
                    positions.append(position)
            if not tensors:
                raise TypeError(
                    f"layer '{self.name(index)}' received no tensor positional arguments; "
                    "attribute_to_layer_input needs at least one."
                )
            new = self._process(index, tuple(tensors), len(tensors) > 1)
            if new is None:
                return None
            rebuilt = list(args)
            for position, value in zip(positions, new):
                rebuilt[position] = value
            return tuple(rebuilt)
        return hook

    def _output_hook(self, index: int) -> Callable[..., Any]:
        def hook(_module: nn.Module, _args: Any, output: Any) -> Any:
            tensors, is_tuple = _split_tensors(output, "returned", self.name(index))
            new = self._process(index, tensors, is_tuple or isinstance(output, (tuple, list)))
            if new is None:
                return None
            return type(output)(new) if isinstance(output, (tuple, list)) else new[0]
        return hook

    def _process(self, index: int, tensors: Tuple[Tensor, ...], is_tuple: bool
                 ) -> Optional[Tuple[Tensor, ...]]:
        """Record ``tensors``; return what the model should continue with (None = unchanged)."""
        device = tensors[0].device
        versions: Optional[Tuple[int, ...]] = None
        if self.replacements is not None:
            recorded = self._replacement_for(index, tensors, device)
            if self.track_gradients:
                recorded = tuple(t.detach().requires_grad_() for t in recorded)
            onward: Optional[Tuple[Tensor, ...]] = tuple(t.clone() for t in recorded)
        elif self.track_gradients:
            # A tensor without grad (frozen weights, inputs without grad) becomes a leaf; the
            # model continues with a copy of it so later in-place operations stay legal.
            recorded = tuple(t if t.requires_grad else t.detach().requires_grad_()
                             for t in tensors)
            if self.protect:
                onward = tuple(t.clone() for t in recorded)
            elif any(r is not t for r, t in zip(recorded, tensors)):
                onward = tuple(t if r is t else r.clone() for r, t in zip(recorded, tensors))
            else:
                onward = None
            versions = tuple(t._version for t in recorded)
        else:
            recorded = tuple(t.detach().clone() for t in tensors) if self.protect else tensors
            onward = None
            versions = tuple(t._version for t in recorded)
        with self._lock:
            self.records[index][device] = recorded
            if versions is not None:
                self.versions[index][device] = versions
            self.is_tuple[index] = is_tuple
        return onward

    def _replacement_for(self, index: int, tensors: Tuple[Tensor, ...], device: torch.device
                         ) -> Tuple[Tensor, ...]:
        assert self.replacements is not None
        full = self.replacements[index]
        if len(full) != len(tensors):
            raise ValueError(
                f"layer '{self.name(index)}' has {len(tensors)} tensor(s) but {len(full)} "
                "replacement tensor(s) were given."
            )
        pieces = []
        for value, original in zip(full, tensors):
            if value.shape[0] != original.shape[0]:
                # A DataParallel replica sees its chunk of the batch: take the same chunk.
                value = self._device_chunk(value, device)
            if value.shape != original.shape:
                raise ValueError(
                    f"replacement for layer '{self.name(index)}' has shape "
                    f"{tuple(value.shape)} but the layer's tensor has shape "
                    f"{tuple(original.shape)}."
                )
            pieces.append(value.to(device))
        return tuple(pieces)

    def _device_chunk(self, value: Tensor, device: torch.device) -> Tensor:
        order = self._device_order()
        position = order.index(device.index) if device.index in order else 0
        return value.chunk(len(order))[position]

    def _device_order(self) -> List[int]:
        if not self.device_ids:
            raise ValueError(
                "the layer was evaluated on several devices (DataParallel); pass `device_ids` "
                "to the algorithm's constructor so the per-device results can be ordered."
            )
        return list(self.device_ids)

    def layer_records(self, index: int) -> List[Tuple[Tensor, ...]]:
        """Per-device records of layer ``index`` in ``device_ids`` order."""
        by_device = self.records[index]
        if not by_device:
            if self.model is not None:
                resolve_modules(self.model, [self.layers[index]])   # names a foreign layer
            raise ValueError(
                f"`layer` '{self.name(index)}' did not run during the forward pass: it is not "
                "used by the model's forward for these inputs (or is not part of the model)."
            )
        if len(by_device) == 1:
            return list(by_device.values())
        order = self._device_order()
        return [by_device[d] for d in sorted(by_device, key=lambda d: order.index(d.index)
                                             if d.index in order else len(order))]


def concat_devices(per_device: Sequence[Tuple[Tensor, ...]]) -> Tuple[Tensor, ...]:
    """Per-device tuples of tensors -> one tuple, each tensor concatenated along dim 0."""
    if len(per_device) == 1:
        return per_device[0]
    first = per_device[0][0].device
    return tuple(torch.cat([part[i].to(first) for part in per_device])
                 for i in range(len(per_device[0])))


@dataclass
class LayerPass:
    """Result of :func:`run_with_layers`: the model output and, per layer, the per-device
    records (each a tuple of tensors) plus whether the layer's tensors form a tuple."""

    output: Tensor
    per_device: List[List[Tuple[Tensor, ...]]]
    is_tuple: List[bool]

    def record(self, index: int) -> LayerRecord:
        """Layer ``index``'s tensors with devices concatenated."""
        return LayerRecord(concat_devices(self.per_device[index]), self.is_tuple[index])

    def records(self) -> List[LayerRecord]:
        return [self.record(i) for i in range(len(self.per_device))]


def run_with_layers(
    forward_func: Callable[..., Any],
    layers: Sequence[nn.Module],
    inputs: Sequence[Tensor],
    args: Optional[Tuple[Any, ...]],
    attribute_to_layer_input: bool = False,
    device_ids: Optional[List[int]] = None,
    track_gradients: bool = False,
    replacements: Optional[Sequence[Replacement]] = None,
    protect: bool = False,
) -> LayerPass:
    """One forward pass of ``forward_func(*inputs, *args)`` recording each layer's tensors.

    ``track_gradients`` keeps the records connected to the output's autograd graph (the caller
    enables grad). ``replacements[i]`` (tensors shaped like layer i's) are substituted for layer
    i's tensors and recorded in their place. ``protect`` makes the model continue with copies
    of the recorded tensors from the start (otherwise only after an in-place modification was
    detected), so hooks that other machinery registers on the layer's own tensors (DeepLift's
    rules) never see the recorded tensor. Raises ``ValueError`` naming a layer that is not
    part of the model or does not run.
    """
    model = module_of(forward_func)
    ids = resolve_device_ids(forward_func, device_ids)
    for attempt in ((True,) if protect else (False, True)):
        recorder = _Recorder(model, layers, attribute_to_layer_input, track_gradients,
                             replacements, ids, attempt)
        with HookSet() as hooks:
            recorder.install(hooks)
            output = as_output_tensor(forward_func(*forward_arguments(inputs, args)))
        if not recorder.modified():
            break
    per_device = [recorder.layer_records(i) for i in range(len(layers))]
    return LayerPass(output, per_device, list(recorder.is_tuple))


def layer_activations(
    forward_func: Callable[..., Any],
    layers: Sequence[nn.Module],
    inputs: Sequence[Tensor],
    args: Optional[Tuple[Any, ...]],
    attribute_to_layer_input: bool = False,
    device_ids: Optional[List[int]] = None,
) -> Tuple[List[LayerRecord], Tensor]:
    """Each layer's tensors (no autograd) and the model output, from one forward pass."""
    with torch.no_grad():
        result = run_with_layers(forward_func, layers, inputs, args, attribute_to_layer_input,
                                 device_ids)
    return result.records(), result.output


def endpoint_activations(
    forward_func: Callable[..., Any],
    layers: Sequence[nn.Module],
    inputs: Tuple[Tensor, ...],
    baselines: Tuple[Tensor, ...],
    target: Target,
    args: Optional[Tuple[Any, ...]],
    attribute_to_layer_input: bool,
    device_ids: Optional[List[int]],
) -> Tuple[List[LayerRecord], List[LayerRecord], Tuple[Tensor, Tensor]]:
    """Layer activations at the inputs and at the baselines, plus (F(baselines), F(inputs)).

    When stacking examples cannot change any row (a module in eval mode) both run in one
    forward pass of 2N rows; otherwise two passes.
    """
    n = inputs[0].shape[0]
    with torch.no_grad():
        if rows_are_independent(forward_func):
            stacked = tuple(torch.cat([x, b]) for x, b in zip(inputs, baselines))
            result = run_with_layers(forward_func, layers, stacked,
                                     expand_additional_forward_args(args, 2),
                                     attribute_to_layer_input, device_ids)
            records = result.records()
            if all(t.shape[0] == 2 * n for r in records for t in r.tensors):
                output = target.repeat(2).select(result.output)
                at_inputs = [LayerRecord(tuple(t[:n] for t in r.tensors), r.is_tuple)
                             for r in records]
                at_baselines = [LayerRecord(tuple(t[n:] for t in r.tensors), r.is_tuple)
                                for r in records]
                if output.dim() > 0 and output.shape[0] == 2 * n:
                    return at_inputs, at_baselines, (output[n:], output[:n])
        first = run_with_layers(forward_func, layers, inputs, args, attribute_to_layer_input,
                                device_ids)
        second = run_with_layers(forward_func, layers, baselines, args,
                                 attribute_to_layer_input, device_ids)
    return (first.records(), second.records(),
            (target.select(second.output), target.select(first.output)))


def layer_replacing_evaluator(
    forward_func: Callable[..., Any],
    layers: Sequence[nn.Module],
    tensors_per_layer: Sequence[int],
    inputs: Tuple[Tensor, ...],
    target: Target,
    args: Optional[Tuple[Any, ...]],
    attribute_to_layer_input: bool = False,
    device_ids: Optional[List[int]] = None,
) -> Callable[[Tuple[Tensor, ...], int], Tensor]:
    """A perturbation-engine row evaluator for layer values: ``evaluate(rows, copies)`` runs
    the model on ``inputs`` repeated ``copies`` times (copy-major) with the layers' tensors
    replaced by ``rows`` (all layers' tensors flattened in layer order, ``tensors_per_layer``
    of them per layer) and returns the targeted output. Used by layer ablation and
    permutation."""

    def evaluate(rows: Tuple[Tensor, ...], copies: int) -> Tensor:
        replacements, start = [], 0
        for count in tensors_per_layer:
            replacements.append(tuple(rows[start:start + count]))
            start += count
        repeated = tuple(x.repeat(copies, *([1] * (x.dim() - 1))) for x in inputs)
        result = run_with_layers(forward_func, layers, repeated,
                                 expand_additional_forward_args(args, copies),
                                 attribute_to_layer_input, device_ids,
                                 replacements=replacements)
        return target.repeat(copies).select(result.output)

    return evaluate


def neuron_evaluator(
    forward_func: Callable[..., Any],
    layer: nn.Module,
    selector: NeuronSelector,
    args: Optional[Tuple[Any, ...]],
    attribute_to_neuron_input: bool = False,
    device_ids: Optional[List[int]] = None,
) -> Callable[[Tuple[Tensor, ...], int], Tensor]:
    """A perturbation-engine row evaluator whose "output" is the selected neuron: runs the
    model on ``rows`` (perturbed inputs, ``copies`` stacked copies) and returns the neuron's
    value per row (Neuron Feature Ablation)."""
    name = LazyModuleName(module_of(forward_func), layer)

    def evaluate(rows: Tuple[Tensor, ...], copies: int) -> Tensor:
        result = run_with_layers(forward_func, [layer], rows,
                                 expand_additional_forward_args(args, copies),
                                 attribute_to_neuron_input, device_ids)
        return selector.select(concat_devices(result.per_device[0]), name)

    return evaluate


def flatten_records(records: Sequence[LayerRecord]) -> Tuple[Tensor, ...]:
    """All tensors of several layer records in one tuple (layer by layer)."""
    return tuple(t for record in records for t in record.tensors)


def unflatten_like(values: Sequence[Tensor], records: Sequence[LayerRecord]) -> List[LayerRecord]:
    """Inverse of :func:`flatten_records`: regroup ``values`` per layer like ``records``."""
    result, start = [], 0
    for record in records:
        count = len(record.tensors)
        result.append(LayerRecord(tuple(values[start:start + count]), record.is_tuple))
        start += count
    return result


def format_layer_result(records: Sequence[LayerRecord], was_list: bool) -> Any:
    """Per-layer results in Captum's form: a list (one entry per layer) when a list of layers
    was given, else the single layer's tensor or tuple."""
    values = [record.restore(record.tensors) for record in records]
    return values if was_list else values[0]


__all__ = [
    "LayerPass",
    "LayerRecord",
    "LayerSpec",
    "LazyModuleName",
    "Replacement",
    "concat_devices",
    "endpoint_activations",
    "flatten_records",
    "format_layer_result",
    "layer_activations",
    "layer_replacing_evaluator",
    "layers_as_list",
    "neuron_evaluator",
    "resolve_device_ids",
    "run_with_layers",
    "unflatten_like",
]
