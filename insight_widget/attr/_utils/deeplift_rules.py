"""DeepLift's propagation rules as gradient overrides on a model's modules.

DeepLift (Shrikumar, Greenside, Kundaje, ICML 2017) explains the difference between the output
at the inputs x and at references x' by replacing each non-linearity's local derivative with a
*multiplier* computed from the two points. Everything else (linear layers, convolutions,
batch norm in eval mode, additions) keeps its ordinary gradient, so a single backward pass
yields the multipliers dF/dx of the whole network.

Contract of :func:`deeplift_rules` (shared by DeepLift, DeepLiftShap and the layer/neuron
DeepLift methods)
------------------------------------------------------------------------------------------
* Inside ``with deeplift_rules(model, eps) as rules:`` run ``model`` (with autograd enabled) on
  the **stacked batch** ``[inputs; references]``: 2N rows, rows 0..N-1 the inputs and rows
  N..2N-1 their references, in the same order, built inside the graph (e.g. with
  ``forward.input_gradients(..., reference_rows=...)`` or ``torch.cat`` of a tensor that
  requires grad), not as a leaf. Every supported module must see its input in that layout
  along dim 0 (reshapes that keep examples contiguous, e.g. (2N, L, d) -> (2N*L, d), are
  fine); a module seeing an odd number of rows raises ``ValueError``.
* Module outputs keep their values, so rows 0..N-1 / N..2N-1 of the model output are F(x) and
  F(x') for the convergence delta (no extra forward pass).
* Take the gradient of the **sum of the targeted outputs of all 2N rows** (targets repeated for
  the reference half) w.r.t. the inputs, or w.r.t. any activation of that forward pass (layer
  methods: capture it with a forward hook registered after entering the context), and keep
  rows 0..N-1. Summing the reference rows too is Captum's convention; it matters for MaxPool
  and Softmax, whose rules mix the two halves.
* Forwards without autograd (``torch.no_grad``) pass through untouched.
* On exit every hook is removed and every temporarily changed attribute (``inplace`` flags,
  since an in-place module would overwrite the input its rule needs) restored, also when the
  forward or backward raised. After a successful block, modules that ran more than once per
  forward pass are reported by a ``RuntimeWarning`` naming them (each call gets its own rule
  here; Captum 0.9 raises an error for such models).

How a rule replaces gradients (``exact_chaining``)
--------------------------------------------------
* ``exact_chaining=False`` (default; **Captum 0.9's numbers**): each module call registers a
  tensor hook on its output that records the gradient arriving there, and one on its input
  tensor that *replaces that tensor's whole gradient* with the rule applied to the recorded
  one. This is what Captum's numbers show, including two consequences established by
  black-box comparison: (1) when a supported module's input is directly another supported
  module's output tensor (``ReLU -> MaxPool``, ``MaxPool -> ReLU``, ``Tanh -> Sigmoid``), the
  upstream module records the gradient of that tensor *before* the downstream rule replaces
  it, i.e. the downstream module acts with its ordinary derivative; (2) when a supported
  module's input tensor also feeds other operations (``relu(h) + h``), the gradient those
  operations send to it is discarded. Both break summation-to-delta (the convergence delta
  shows it). Inserting any operation that makes a new tensor (e.g. ``x.clone()``) between the
  two avoids them, in Captum and here alike.
* ``exact_chaining=True``: the rule replaces only the module's own local derivative (the
  output is replaced by a tensor of equal values with a custom backward), so gradients from
  other consumers are kept and chained rules compose; summation-to-delta then holds for any
  composition of linear maps and supported modules. Equal to the default wherever no tensor
  is shared as described above.

Rules (as Captum 0.9 applies them; numbers established by black-box comparison)
-------------------------------------------------------------------------------
Module types are matched exactly (subclasses keep their ordinary gradient). With
dx = x - x', dy = f(x) - f(x') computed per example and g the gradient at the module output
(2N rows):

* **rescale** (``nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus``):
  grad_in = g * dy/dx on both halves, except where |dx| < eps, where the ordinary gradient
  of each row is kept.
* **maxpool** (``nn.MaxPool1d/2d/3d``): with pooled outputs y, y' and m = max(y, y'), the
  contributions g_in * (m - y') of the input half and g_ref * (y - m) of the reference half
  are un-pooled (``max_unpool``: to the arg-max position of their own half; where pooling
  windows overlap a later window's value replaces an earlier one's, as Captum's numbers show),
  added, and divided by dx; both halves receive that multiplier. Where |dx| < eps the
  ordinary gradient is kept.
* **softmax** (``nn.Softmax``): the rescale multiplier g * dy/dx (ordinary gradient where
  |dx| < eps) minus its mean over **all** elements of the 2N-row tensor. That mean couples the
  examples of a batch; it is Captum's rule and is kept for equal numbers.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .hooks import HookSet, module_name, warn_reused_modules

RESCALE_MODULES: Tuple[type, ...] = (nn.ReLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh,
                                     nn.Softplus)
MAXPOOL_MODULES: Tuple[type, ...] = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
SOFTMAX_MODULES: Tuple[type, ...] = (nn.Softmax,)

#: Module type -> rule name, matched by exact type (as Captum does).
SUPPORTED_NON_LINEAR: Dict[type, str] = {
    **{t: "rescale" for t in RESCALE_MODULES},
    **{t: "maxpool" for t in MAXPOOL_MODULES},
    **{t: "softmax" for t in SOFTMAX_MODULES},
}

_UNPOOL = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}
_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_POOL_DIMS = {nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3}


def rule_for(module: nn.Module) -> Optional[str]:
    """The rule applied to ``module`` ("rescale", "maxpool", "softmax") or None."""
    return SUPPORTED_NON_LINEAR.get(type(module))


def _halves(tensor: Tensor, n: int) -> Tensor:
    """View a (2N, ...) tensor as (2, N, ...) so a per-example tensor broadcasts over halves."""
    return tensor.reshape(2, n, *tensor.shape[1:])


def _both_halves(per_example: Tensor) -> Tensor:
    """A per-example tensor (N, ...) repeated for the input and reference halves (2N, ...)."""
    return torch.cat([per_example, per_example])


@dataclass
class _CallState:
    """What one module call's rule needs, computed from its forward values.

    ``small`` (per example, or None when no |dx| < eps) marks where the ordinary gradient is
    kept. For rescale/softmax ``multiplier`` = dy/dx (0 where small); for maxpool
    ``contribution``, ``indices``, ``delta_in`` and ``unpool`` describe the rule.
    """

    rule: str
    n: int
    input_shape: torch.Size
    small: Optional[Tensor]
    multiplier: Optional[Tensor] = None
    contribution: Optional[Tensor] = None
    indices: Optional[Tensor] = None
    delta_in: Optional[Tensor] = None
    unpool: Optional[Callable[[Tensor, Tensor], Tensor]] = None
    softmax_dim: int = -1
    output: Optional[Tensor] = None  # softmax output, only kept when some |dx| < eps

    def multiplied(self, grad_out: Tensor) -> Tensor:
        """The rule's gradient at the module input where |dx| >= eps (2N rows)."""
        if self.rule == "maxpool":
            spread = _halves(self.unpool(grad_out * self.contribution, self.indices), self.n)
            multiplier = (spread[0] + spread[1]) / self.delta_in
            return _both_halves(multiplier)
        return (_halves(grad_out, self.n) * self.multiplier).reshape(grad_out.shape)

    def combine(self, rule_grad: Tensor, ordinary: Optional[Tensor]) -> Tensor:
        """The rule's gradient, the ordinary one where |dx| < eps, softmax normalisation."""
        if self.small is not None:
            rule_grad = torch.where(_both_halves(self.small), ordinary, rule_grad)
        if self.rule == "softmax":
            rule_grad = rule_grad - rule_grad.sum() / rule_grad.numel()
        return rule_grad

    def ordinary(self, grad_out: Tensor) -> Tensor:
        """The module's ordinary input gradient (max-pool and softmax; exact mode)."""
        if self.rule == "maxpool":
            return _maxpool_backward(grad_out, self.indices, self.input_shape)
        y = self.output
        return y * (grad_out - (grad_out * y).sum(self.softmax_dim, keepdim=True))


class _ExactRule(torch.autograd.Function):
    """Identity forward (the module's output values); backward applies the rule to the module's
    own local derivative only (``exact_chaining=True``)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor, state: _CallState) -> Tensor:
        ctx.state = state
        return y.detach()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        state: _CallState = ctx.state
        rule_grad = state.multiplied(grad)
        if state.rule == "rescale":
            if state.small is None:
                return rule_grad, None, None
            # The ordinary derivative flows through the module's own graph (y), masked.
            # (The multiplier is already 0 there, so rule_grad adds nothing at those places.)
            keep = _both_halves(state.small).to(grad.dtype)
            return rule_grad, grad * keep, None
        ordinary = state.ordinary(grad) if state.small is not None else None
        return state.combine(rule_grad, ordinary), None, None


def _planes(shape: torch.Size) -> Tuple[int, int]:
    """(batch x channels, spatial size) of a pooled module's batched input shape."""
    return shape[0] * shape[1], int(torch.Size(shape[2:]).numel())


def _maxpool_backward(grad: Tensor, indices: Tensor, input_shape: torch.Size) -> Tensor:
    """The ordinary max-pool gradient: each pooled gradient added at its arg-max position."""
    planes, size = _planes(input_shape)
    flat = torch.zeros(planes, size, dtype=grad.dtype, device=grad.device)
    flat.scatter_add_(1, indices.reshape(planes, -1), grad.reshape(planes, -1))
    return flat.reshape(input_shape)


def _softmax_dim(module: nn.Softmax, ndim: int) -> int:
    """``nn.Softmax(dim=None)`` picks dim 0 for 0/1/3-d inputs and dim 1 otherwise (legacy)."""
    if module.dim is not None:
        return module.dim
    return 0 if ndim in (0, 1, 3) else 1


def _unpooler(module: nn.Module, dims: int, input_shape: torch.Size
              ) -> Callable[[Tensor, Tensor], Tensor]:
    """``max_unpool`` to the pooled module's input shape (Captum's un-pooling, including its
    overwrite of overlapping windows); a scatter when ``max_unpool`` cannot express the shape
    (dilated pooling)."""

    def unpool(values: Tensor, indices: Tensor) -> Tensor:
        try:
            return _UNPOOL[dims](values, indices, module.kernel_size, module.stride,
                                 module.padding, output_size=list(input_shape))
        except (RuntimeError, ValueError):
            planes, size = _planes(input_shape)
            flat = torch.zeros(planes, size, dtype=values.dtype, device=values.device)
            flat.scatter_(1, indices.reshape(planes, -1), values.reshape(planes, -1))
            return flat.reshape(input_shape)

    return unpool


class DeepLiftRules:
    """Forward hooks implementing the rules; created by :func:`deeplift_rules`."""

    def __init__(self, model: nn.Module, eps: float, exact_chaining: bool) -> None:
        self.model = model
        self.eps = eps
        self.exact_chaining = exact_chaining
        self.calls: Counter = Counter()
        self.passes = 0
        self._names: Dict[nn.Module, str] = {}

    def _label(self, module: nn.Module) -> str:
        if module not in self._names:
            self._names[module] = module_name(self.model, module)
        return self._names[module]

    def count_pass(self, _module: nn.Module, _inputs: Any) -> None:
        self.passes += 1

    def hook(self, module: nn.Module, inputs: Tuple[Any, ...], output: Any) -> Any:
        self.calls[module] += 1
        y = output[0] if isinstance(output, tuple) else output
        if not (torch.is_grad_enabled() and isinstance(y, Tensor) and y.requires_grad
                and inputs and isinstance(inputs[0], Tensor) and inputs[0].requires_grad):
            return None
        x = inputs[0]
        state = self._state(module, x, y, output)
        if self.exact_chaining:
            replaced = _ExactRule.apply(x, y if _needs_module_graph(state) else y.detach(),
                                        state)
            return (replaced, *output[1:]) if isinstance(output, tuple) else replaced
        _replace_input_gradient(x, y, state)
        return None

    def _state(self, module: nn.Module, x: Tensor, y: Tensor, output: Any) -> _CallState:
        rows = x.shape[0] if x.dim() > 0 else 0
        if rows == 0 or rows % 2:
            raise ValueError(
                f"DeepLift: module '{self._label(module)}' received {rows} rows along dim 0, "
                "but DeepLift runs the model on inputs and references stacked (2N rows) and "
                "each supported module must see them along dim 0."
            )
        n = rows // 2
        rule = rule_for(module)
        with torch.no_grad():
            delta_in = x[:n] - x[n:]
            small = delta_in.abs() < self.eps
            small = small if bool(small.any()) else None
            if rule == "maxpool":
                return self._maxpool_state(module, x, y, output, n, delta_in, small)
            multiplier = (y[:n] - y[n:]) / delta_in
            if small is not None:
                multiplier.masked_fill_(small, 0.0)
        state = _CallState(rule, n, x.shape, small, multiplier=multiplier)
        if rule == "softmax":
            state.softmax_dim = _softmax_dim(module, x.dim())
            state.output = y.detach() if small is not None else None
        return state

    def _maxpool_state(self, module: nn.Module, x: Tensor, y: Tensor, output: Any, n: int,
                       delta_in: Tensor, small: Optional[Tensor]) -> _CallState:
        dims = _POOL_DIMS[type(module)]
        if x.dim() != dims + 2:
            raise ValueError(
                f"DeepLift: module '{self._label(module)}' needs a batched input with "
                f"{dims + 2} dimensions (rows, channels, {dims} spatial); got shape "
                f"{tuple(x.shape)}."
            )
        if isinstance(output, tuple):
            indices = output[1]
        else:
            indices = _POOL[dims](x, module.kernel_size, module.stride, module.padding,
                                  module.dilation, module.ceil_mode, True)[1]
        y_in, y_ref = y[:n], y[n:]
        top = torch.maximum(y_in, y_ref)
        contribution = torch.cat([top - y_ref, y_in - top])
        return _CallState("maxpool", n, x.shape, small, contribution=contribution,
                          indices=indices, delta_in=delta_in,
                          unpool=_unpooler(module, dims, x.shape))


def _needs_module_graph(state: _CallState) -> bool:
    """Exact mode routes the ordinary rescale derivative through the module's own graph; all
    other cases compute what they need, so autograd can skip the module's backward."""
    return state.rule == "rescale" and state.small is not None


def _replace_input_gradient(x: Tensor, y: Tensor, state: _CallState) -> None:
    """Captum-compatible mode: record the gradient at ``y``; replace the whole gradient of
    ``x`` with the rule applied to it."""
    # The hooks live on autograd nodes, which Python's garbage collector cannot traverse: a
    # closure holding ``y`` (whose graph holds these nodes) would form a cycle that is never
    # freed. They therefore capture only plain data (the output's shape, dtype and device).
    recorded: Dict[str, Tensor] = {}
    shape, dtype, device = y.shape, y.dtype, y.device

    def record(grad: Tensor) -> None:
        recorded["grad"] = grad

    def replace(grad_in: Tensor) -> Tensor:
        # pop: the recorded gradient is used once and not kept alive by the graph afterwards.
        grad_out = recorded.pop("grad", None)
        if grad_out is None:  # the output did not reach the explained value
            grad_out = torch.zeros(shape, dtype=dtype, device=device)
        return state.combine(state.multiplied(grad_out), grad_in)

    y.register_hook(record)
    x.register_hook(replace)


_REUSE_CONSEQUENCE = (
    "The rule is applied to each call separately, as if every use had its own module; "
    "Captum 0.9 raises an error for such models, so its numbers cannot be compared here."
)


@contextlib.contextmanager
def deeplift_rules(model: nn.Module, eps: float = 1e-10, method: str = "DeepLift",
                   exact_chaining: bool = False) -> Iterator[DeepLiftRules]:
    """Install DeepLift's rules on every supported module of ``model`` (see module docstring).

    Yields the :class:`DeepLiftRules` object (``calls`` per module, ``passes`` of the model).
    ``method`` names the algorithm in warnings; ``exact_chaining`` selects how rules replace
    gradients (default: Captum's numbers).
    """
    rules = DeepLiftRules(model, eps, exact_chaining)
    with HookSet() as hooks:
        hooks.forward_pre_hook(model, rules.count_pass)
        for module in model.modules():
            if rule_for(module) is None:
                continue
            if getattr(module, "inplace", False):
                hooks.set_attribute(module, "inplace", False)
            hooks.forward_hook(module, rules.hook)
        yield rules
    warn_reused_modules(model, rules.calls, max(1, rules.passes), method, _REUSE_CONSEQUENCE)


__all__ = [
    "MAXPOOL_MODULES",
    "RESCALE_MODULES",
    "SOFTMAX_MODULES",
    "SUPPORTED_NON_LINEAR",
    "DeepLiftRules",
    "deeplift_rules",
    "rule_for",
]
