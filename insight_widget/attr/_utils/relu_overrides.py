"""Guided Backprop's and Deconvolution's ReLU gradient overrides.

Both methods take the ordinary gradient of the output w.r.t. the inputs, except at ReLUs:

* **guided** (Springenberg et al., 2015): grad_in = max(0, 1[x > 0] * g), the ordinary ReLU
  gradient with negative values dropped;
* **deconvolution** (Zeiler & Fergus, 2014): grad_in = max(0, g), the incoming gradient
  rectified without the ReLU's mask.

Contract of :func:`relu_gradient_override` (shared by GuidedBackprop, Deconvolution and their
neuron variants)
------------------------------------------------------------------------------------------
* Inside ``with relu_gradient_override(model, "guided" | "deconvolution", method):``, every
  forward of ``model`` with autograd enabled routes gradients through the override at each
  ``nn.ReLU`` module (``isinstance``, so subclasses included; functional ``relu`` calls keep
  their ordinary gradient, as in Captum). Output values are unchanged, so gradients may be
  taken w.r.t. the inputs or any activation.
* Every call of a module is overridden on its own (a module used twice is handled per call,
  as Captum's backward hooks do); such reuse is still reported by a ``RuntimeWarning`` naming
  the module, because Captum documents it as unsupported.
* On exit all hooks are removed and ``inplace`` flags restored, also after an error.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any, Iterator, Literal, Optional, Tuple

import torch
from torch import Tensor, nn

from .hooks import HookSet, warn_reused_modules

OverrideRule = Literal["guided", "deconvolution"]
RULES = ("guided", "deconvolution")


def _rectify(grad: Tensor) -> Tensor:
    return grad.clamp(min=0)


class _DeconvolutionGradient(torch.autograd.Function):
    """Identity forward (the ReLU's output); backward max(0, g) straight to the ReLU input."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor) -> Tensor:
        return y.detach()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], None]:
        return grad.clamp(min=0), None


class ReluOverride:
    """Forward hooks applying ``rule`` at ReLU modules; created by
    :func:`relu_gradient_override`."""

    def __init__(self, rule: OverrideRule) -> None:
        self.rule = rule
        self.calls: Counter = Counter()
        self.passes = 0

    def count_pass(self, _module: nn.Module, _inputs: Any) -> None:
        self.passes += 1

    def hook(self, module: nn.Module, inputs: Tuple[Any, ...], output: Any) -> Any:
        self.calls[module] += 1
        if not (torch.is_grad_enabled() and isinstance(output, Tensor) and output.requires_grad):
            return None
        if self.rule == "guided":
            # The ReLU's own backward applies the mask 1[x > 0]; rectifying the incoming
            # gradient first gives max(0, mask * g) since the mask is 0 or 1.
            output.register_hook(_rectify)
            return None
        x = inputs[0]
        return _DeconvolutionGradient.apply(x, output.detach())


_REUSE_CONSEQUENCE = (
    "The override is applied at each call (as Captum's backward hooks do), but Captum "
    "documents reused ReLU modules as unsupported; use one module per use to be safe."
)


@contextlib.contextmanager
def relu_gradient_override(model: nn.Module, rule: OverrideRule,
                           method: str) -> Iterator[ReluOverride]:
    """Install the ``rule`` ("guided" or "deconvolution") at every ``nn.ReLU`` of ``model``
    (see module docstring); ``method`` names the algorithm in warnings."""
    if rule not in RULES:
        raise ValueError(f"`rule` must be one of {list(RULES)}; got {rule!r}.")
    override = ReluOverride(rule)
    with HookSet() as hooks:
        hooks.forward_pre_hook(model, override.count_pass)
        for module in model.modules():
            if isinstance(module, nn.ReLU):
                if module.inplace:
                    # An in-place ReLU overwrites the input the override routes to.
                    hooks.set_attribute(module, "inplace", False)
                hooks.forward_hook(module, override.hook)
        yield override
    warn_reused_modules(model, override.calls, max(1, override.passes), method,
                        _REUSE_CONSEQUENCE)


__all__ = ["RULES", "ReluOverride", "relu_gradient_override"]
