"""The LRP relevance pass: rule assignment, hooks, weight transformation and restoration.

:func:`propagate_relevance` explains ``model(*inputs)[target]``:

1. every leaf module gets a rule: ``nn.ReLU``, ``nn.Dropout`` and ``nn.Tanh`` pass relevance
   through unchanged (always, as in Captum); otherwise the module's ``rule`` attribute, else
   Captum's default (:class:`EpsilonRule` for Linear, Conv2d, BatchNorm2d, max/average
   pooling and :class:`Addition_Module`); any other leaf module raises ``TypeError`` before the
   model runs;
2. rules that transform weights (gamma, alpha-beta, custom) run right after their layer in a
   forward pass with the original weights, which also gives the output to explain; the
   parameters are restored afterwards whatever happens. With only epsilon/identity rules this
   pass is skipped (the relevance pass computes the same output);
3. the relevance pass: hooks make each rule layer divide the relevance arriving at its output
   by the stabilised output and multiply what leaves its input by the input; pass-through
   layers hand relevance on unchanged. Backpropagating 1 from the target gives the relevance
   normalised by the output, which is then scaled by the output.

All hooks and weight changes are undone on exit (also on error). Rules hold no per-call state,
so repeated calls keep nothing alive.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .._utils.forward import as_output_tensor, check_one_value_per_example
from .._utils.hooks import HookSet
from .._utils.inputs import forward_arguments
from .._utils.target import Target
from .rules import (
    Addition_Module,
    EpsilonRule,
    PropagationRule,
)

PASS_THROUGH_LAYERS: Tuple[type, ...] = (nn.ReLU, nn.Dropout, nn.Tanh)
DEFAULT_RULES: Dict[type, Callable[[], PropagationRule]] = {
    nn.MaxPool1d: EpsilonRule,
    nn.MaxPool2d: EpsilonRule,
    nn.MaxPool3d: EpsilonRule,
    nn.Conv2d: EpsilonRule,
    nn.AvgPool2d: EpsilonRule,
    nn.AdaptiveAvgPool2d: EpsilonRule,
    nn.Linear: EpsilonRule,
    nn.BatchNorm2d: EpsilonRule,
    Addition_Module: EpsilonRule,
}


class _StraightThrough(torch.autograd.Function):
    """Returns ``value`` (exactly) while the gradient flows to ``source`` unchanged."""

    @staticmethod
    def forward(ctx: Any, source: Tensor, value: Tensor) -> Tensor:
        return value.clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Tensor, None]:
        return grad, None


@dataclass
class RuleAssignment:
    """A leaf module, its dotted name and its rule (None = passes relevance through)."""

    module: nn.Module
    name: str
    rule: Optional[PropagationRule]


def _default_rule(module: nn.Module) -> Optional[Callable[[], PropagationRule]]:
    for kind, factory in DEFAULT_RULES.items():
        if type(module) is kind:
            return factory
    # Captum's helper module of the same name (captum.attr._utils.custom_modules).
    if type(module).__name__ == "Addition_Module":
        return EpsilonRule
    return None


def assign_rules(model: nn.Module) -> List[RuleAssignment]:
    """Rules for every leaf module of ``model``; ``TypeError`` names an unsupported one."""
    assignments = []
    for name, module in model.named_modules():
        if any(True for _ in module.children()):
            continue
        label = name or type(module).__name__
        if isinstance(module, PASS_THROUGH_LAYERS):
            assignments.append(RuleAssignment(module, label, None))
            continue
        rule = user_rule(module, label)
        if rule is None:
            factory = _default_rule(module)
            if factory is None:
                raise TypeError(
                    f"LRP has no rule for module '{label}' of type {type(module).__name__}: "
                    "default rules exist for Linear, Conv2d, BatchNorm2d, MaxPool1d/2d/3d, "
                    "AvgPool2d, AdaptiveAvgPool2d and Addition_Module, and ReLU, Dropout and "
                    "Tanh pass relevance through. Set `module.rule` (e.g. EpsilonRule()) for "
                    "this module if a rule is appropriate for it."
                )
            rule = factory()
        assignments.append(RuleAssignment(module, label, rule))
    return assignments


def user_rule(module: nn.Module, label: str) -> Optional[PropagationRule]:
    """The rule a user assigned to ``module`` (``module.rule``), or None; ``TypeError`` when it
    is not a :class:`PropagationRule`."""
    rule = getattr(module, "rule", None)
    if rule is not None and not isinstance(rule, PropagationRule):
        raise TypeError(
            f"`rule` of module '{label}' must be a PropagationRule (e.g. EpsilonRule()); "
            f"got an object of type {type(rule).__name__}."
        )
    return rule


def check_user_rules(model: nn.Module) -> None:
    """Reject wrongly typed ``module.rule`` attributes when an LRP method is constructed (as
    Captum does); unsupported layers are reported when the relevance pass assigns rules."""
    for name, module in model.named_modules():
        user_rule(module, name or type(module).__name__)


def transforms_weights(rule: PropagationRule) -> bool:
    return type(rule)._manipulate_weights is not EpsilonRule._manipulate_weights


class ParameterSnapshot:
    """Saves modules' parameters (object and values) and restores both."""

    def __init__(self) -> None:
        self._saved: List[Tuple[nn.Parameter, Tensor, Tensor]] = []
        self._seen: set = set()

    def save(self, module: nn.Module) -> None:
        for parameter in module.parameters(recurse=False):
            if id(parameter) not in self._seen:
                self._seen.add(id(parameter))
                self._saved.append((parameter, parameter.data, parameter.data.clone()))

    def restore(self) -> None:
        with torch.no_grad():
            while self._saved:
                parameter, original, values = self._saved.pop()
                parameter.data = original
                original.copy_(values)
        self._seen.clear()


@dataclass
class _Records:
    """Normalised relevance recorded at chosen layers, per device."""

    at_output: Dict[int, Dict[torch.device, Tensor]] = field(default_factory=dict)
    at_input: Dict[int, Dict[torch.device, Dict[int, Tensor]]] = field(default_factory=dict)


class _RelevanceHooks:
    """Forward hooks that wire the relevance computation into the autograd graph."""

    def __init__(self, assignments: Sequence[RuleAssignment], watched: Sequence[nn.Module]
                 ) -> None:
        self.assignments = assignments
        self.watched = {id(m): i for i, m in enumerate(watched)}
        self.records = _Records()
        self.calls: Counter = Counter()
        self._hooked_inputs: Dict[int, List[Tuple[int, int]]] = {}
        self._alive: List[Tensor] = []
        self.activations: Dict[nn.Module, List[Tensor]] = {}
        self._swapped: Dict[int, Tensor] = {}

    def save_activations(self, module: nn.Module, inputs: Tuple[Any, ...]) -> None:
        """Forward pre-hook of the original-weights pass: the inputs each rule multiplies
        relevance by are the activations of the model with its original weights."""
        self.activations[module] = [t.detach() for t in inputs if isinstance(t, Tensor)]

    def release(self) -> None:
        """Drop references to graph tensors (they hold hooks that point back here)."""
        self._alive.clear()
        self._hooked_inputs.clear()
        self.activations.clear()
        self._swapped.clear()

    def install(self, hooks: HookSet) -> None:
        for entry in self.assignments:
            if entry.rule is None:
                hooks.forward_hook(entry.module, self._pass_through)
            else:
                if self.activations:
                    hooks.forward_pre_hook(entry.module, self._original_activations)
                hooks.forward_hook(entry.module, self._rule_hook(entry))

    @staticmethod
    def _pass_through(_module: nn.Module, inputs: Tuple[Any, ...], output: Any) -> Any:
        # Value of the output, gradient of the identity: relevance passes unchanged.
        if (len(inputs) == 1 and isinstance(inputs[0], Tensor) and isinstance(output, Tensor)
                and inputs[0].shape == output.shape and output.is_floating_point()):
            return _StraightThrough.apply(inputs[0], output.detach())
        return None

    def _original_activations(self, module: nn.Module, args: Tuple[Any, ...]) -> Any:
        """Forward pre-hook of the relevance pass after a weight-transforming pass: each rule
        layer sees the activations of the original model (its output z' then combines the
        original activations with the transformed weights), gradients flow unchanged."""
        saved = self.activations.get(module)
        if saved is None:
            return None
        replaced, position = [], 0
        for value in args:
            if isinstance(value, Tensor) and position < len(saved):
                key = id(value)
                if key not in self._swapped:
                    self._alive.append(value)
                    original = saved[position]
                    self._swapped[key] = (_StraightThrough.apply(value, original)
                                          if value.requires_grad else original)
                replaced.append(self._swapped[key])
                position += 1
            else:
                replaced.append(value)
        return tuple(replaced)

    def _rule_hook(self, entry: RuleAssignment) -> Callable[..., Any]:
        rule = entry.rule
        assert rule is not None
        watch = self.watched.get(id(entry.module))

        def hook(module: nn.Module, inputs: Tuple[Any, ...], output: Any) -> Any:
            self.calls[module] += 1
            if self.calls[module] > 1:
                # RuntimeError, as Captum: the model is valid, LRP cannot follow a reused layer.
                raise RuntimeError(
                    f"`model`: module '{entry.name}' runs more than once in one forward pass; "
                    "LRP needs a separate module instance for every use of a layer."
                )
            if not isinstance(output, Tensor):
                raise TypeError(
                    f"LRP needs module '{entry.name}' to return a tensor; got "
                    f"{type(output).__name__}."
                )
            incoming: Dict[str, Tensor] = {}
            z = output.detach()

            def on_output(grad: Tensor) -> Tensor:
                incoming["relevance"] = grad
                if watch is not None:
                    self.records.at_output.setdefault(watch, {})[grad.device] = grad
                return grad / rule.stabilize(z)

            if output.requires_grad:
                output.register_hook(on_output)
            saved = self.activations.get(module)
            for position, tensor in enumerate(t for t in inputs if isinstance(t, Tensor)):
                if tensor.requires_grad:
                    value = saved[position] if saved is not None else tensor.detach()
                    self._hook_input(tensor, value, position, rule, incoming, watch)
            return output.clone()

        return hook

    def _hook_input(self, tensor: Tensor, value: Tensor, position: int, rule: PropagationRule,
                    incoming: Dict[str, Tensor], watch: Optional[int]) -> None:
        key = id(tensor)
        if key in self._hooked_inputs:
            # Several layers read this tensor: its relevance (one hook, on the summed gradient)
            # is recorded for each of them.
            if watch is not None:
                self._hooked_inputs[key].append((watch, position))
            return
        watchers: List[Tuple[int, int]] = [] if watch is None else [(watch, position)]
        self._hooked_inputs[key] = watchers
        self._alive.append(tensor)

        def on_input(grad: Tensor) -> Tensor:
            relevance = rule.input_relevance(value, grad, incoming.get("relevance", grad))
            for index, slot in watchers:
                self.records.at_input.setdefault(index, {}).setdefault(
                    relevance.device, {})[slot] = relevance
            return relevance

        tensor.register_hook(on_input)


@dataclass
class RelevanceResult:
    """Relevance of the inputs and of watched layers (already scaled by the output), and the
    explained output per example."""

    inputs: Tuple[Tensor, ...]
    layers_at_output: List[Optional[Tensor]]
    layers_at_input: List[Optional[Tuple[Tensor, ...]]]
    output: Tensor


def _scale(relevance: Tensor, output: Tensor) -> Tensor:
    if output.dim() == 0:
        return relevance * output
    return relevance * output.reshape(-1, *([1] * (relevance.dim() - 1)))


def _ordered(by_device: Dict[torch.device, Any], device_ids: Optional[List[int]]) -> List[Any]:
    if len(by_device) == 1 or not device_ids:
        return list(by_device.values())
    return [by_device[d] for d in sorted(by_device, key=lambda d: device_ids.index(d.index)
                                         if d.index in device_ids else len(device_ids))]


def propagate_relevance(
    model: nn.Module,
    inputs: Sequence[Tensor],
    target: Target,
    args: Optional[Tuple[Any, ...]],
    watched: Sequence[nn.Module] = (),
    verbose: bool = False,
    device_ids: Optional[List[int]] = None,
) -> RelevanceResult:
    """Run LRP on ``model(*inputs, *args)[target]`` (see the module docstring)."""
    assignments = assign_rules(model)
    if verbose:
        for entry in assignments:
            if entry.rule is not None:
                print(f"Applied {entry.rule} on layer {entry.module}")
    snapshot = ParameterSnapshot()
    hooks = _RelevanceHooks(assignments, watched)
    try:
        explained: Optional[Tensor] = None
        transforming = [e for e in assignments if e.rule is not None
                        and transforms_weights(e.rule)]
        if transforming:
            with HookSet() as weight_hooks, torch.no_grad():
                for entry in assignments:
                    if entry.rule is not None:
                        weight_hooks.forward_pre_hook(entry.module, hooks.save_activations)
                for entry in transforming:
                    snapshot.save(entry.module)
                    weight_hooks.forward_hook(entry.module, _weight_hook(entry.rule))
                explained = target.select(
                    as_output_tensor(model(*forward_arguments(inputs, args))))
        with HookSet() as relevance_hooks, torch.enable_grad():
            hooks.install(relevance_hooks)
            leaves = tuple(x.detach().requires_grad_() for x in inputs)
            selected = target.select(as_output_tensor(model(*forward_arguments(leaves, args))))
            check_one_value_per_example(selected, target)
            if not selected.requires_grad:
                raise ValueError("the model output does not depend on `inputs` through "
                                 "differentiable operations; LRP has nothing to propagate.")
            grads = torch.autograd.grad(selected, leaves, grad_outputs=torch.ones_like(selected),
                                        allow_unused=True)
    finally:
        snapshot.restore()
        hooks.release()
    output = (selected if explained is None else explained).detach()
    relevance = tuple(_scale(torch.zeros_like(x) if g is None else g, output)
                      for g, x in zip(grads, leaves))
    at_output: List[Optional[Tensor]] = []
    at_input: List[Optional[Tuple[Tensor, ...]]] = []
    for index in range(len(watched)):
        outs = hooks.records.at_output.get(index)
        at_output.append(None if outs is None else
                         _scale(torch.cat(_ordered(outs, device_ids)), output))
        ins = hooks.records.at_input.get(index)
        if ins is None:
            at_input.append(None)
        else:
            parts = _ordered(ins, device_ids)
            slots = sorted(parts[0])
            at_input.append(tuple(_scale(torch.cat([p[s] for p in parts]), output)
                                  for s in slots))
    return RelevanceResult(relevance, at_output, at_input, output)


def _weight_hook(rule: Optional[PropagationRule]) -> Callable[..., None]:
    assert rule is not None

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        rule._manipulate_weights(module, inputs, output)

    return hook


__all__ = [
    "DEFAULT_RULES",
    "PASS_THROUGH_LAYERS",
    "ParameterSnapshot",
    "RelevanceResult",
    "RuleAssignment",
    "assign_rules",
    "propagate_relevance",
]
