"""Hook management: every hook an algorithm registers is removed, whatever happens.

Hook-based algorithms (DeepLift, Guided Backprop, LRP, layer and neuron methods) register
forward/backward hooks and sometimes set attributes on modules. :class:`HookSet` is a context
manager that removes every handle and undoes every attribute change on exit, including when
the forward pass or a user callback raises, so the model is left exactly as it was.
"""

from __future__ import annotations

import warnings
from contextlib import AbstractContextManager
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from torch import nn
from torch.utils.hooks import RemovableHandle

_MISSING = object()


class HookSet(AbstractContextManager):
    """Collects hook handles and temporary module attributes; restores everything on exit."""

    def __init__(self) -> None:
        self._handles: List[RemovableHandle] = []
        self._attributes: List[Tuple[Any, str, Any]] = []

    def add(self, handle: RemovableHandle) -> RemovableHandle:
        """Track a handle returned by ``register_*_hook``."""
        self._handles.append(handle)
        return handle

    def forward_hook(self, module: nn.Module, hook: Callable[..., Any], **kwargs: Any) -> None:
        self.add(module.register_forward_hook(hook, **kwargs))

    def forward_pre_hook(self, module: nn.Module, hook: Callable[..., Any], **kwargs: Any) -> None:
        self.add(module.register_forward_pre_hook(hook, **kwargs))

    def set_attribute(self, owner: Any, name: str, value: Any) -> None:
        """``setattr(owner, name, value)`` now; the previous value (or absence) returns on exit."""
        self._attributes.append((owner, name, getattr(owner, name, _MISSING)))
        setattr(owner, name, value)

    def remove_all(self) -> None:
        while self._handles:
            self._handles.pop().remove()
        while self._attributes:
            owner, name, previous = self._attributes.pop()
            if previous is _MISSING:
                if hasattr(owner, name):
                    delattr(owner, name)
            else:
                setattr(owner, name, previous)

    def __exit__(self, *exc_info: Any) -> None:
        self.remove_all()


def warn_reused_modules(
    model: nn.Module, calls: Dict[nn.Module, int], passes: int, method: str,
    consequence: Optional[str] = None,
) -> None:
    """Warn, naming them, about modules called more than once per forward pass.

    DeepLift, Guided Backprop and Deconvolution replace each non-linearity's gradient using the
    input it saw; a module applied twice in one forward (e.g. one ``nn.ReLU`` reused in several
    places) overwrites that record and silently yields wrong attributions. ``consequence``
    replaces the default last sentence when an algorithm handles reuse in its own way.
    """
    names = {module: name for name, module in model.named_modules()}
    reused = sorted(names.get(m, type(m).__name__) for m, n in calls.items() if n > passes)
    if reused:
        if consequence is None:
            consequence = (f"{method} needs a separate module instance for each use of a "
                           "non-linearity; attributions through reused modules are not correct.")
        warnings.warn(
            f"{method}: module(s) {reused} ran more than once in a single forward pass. "
            f"{consequence}",
            RuntimeWarning,
            stacklevel=3,
        )


def resolve_modules(model: nn.Module, layers: Iterable[Any]) -> List[nn.Module]:
    """Modules given as modules or dotted names, each checked to belong to ``model``."""
    modules = dict(model.named_modules())
    owned = set(map(id, modules.values()))
    resolved = []
    for layer in layers:
        if isinstance(layer, str):
            if layer not in modules:
                raise ValueError(f"`layer` '{layer}' is not a submodule of the model.")
            resolved.append(modules[layer])
        elif isinstance(layer, nn.Module):
            if id(layer) not in owned:
                raise ValueError(
                    f"`layer` {type(layer).__name__} is not part of the model "
                    f"({type(model).__name__})."
                )
            resolved.append(layer)
        else:
            raise TypeError(
                f"`layer` must be an nn.Module or its name; got {type(layer).__name__}."
            )
    return resolved


def module_name(model: Optional[nn.Module], module: nn.Module) -> str:
    """Dotted name of ``module`` inside ``model`` (or its class name)."""
    if model is not None:
        for name, candidate in model.named_modules():
            if candidate is module:
                return name or type(module).__name__
    return type(module).__name__
