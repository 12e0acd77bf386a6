r"""Attributions for k targets per example at once (``attribute_all_targets``).

Switching the explained class among the top-k predictions should not cost k separate runs.

* **Gradient methods** (Integrated Gradients with an integer ``n_steps``, Saliency,
  InputXGradient): the model runs forward once on the rows (path points, or the inputs) and the
  k targeted outputs :math:`y_{r,j} = F(z_r)_{t_{e(r),j}}` are differentiated by k backwards
  over the kept graph, giving :math:`\partial y_{r,j} / \partial z_r` for every row r and
  target j. k exact gradient vectors need k vector-Jacobian products; only the k - 1
  forwards are saved, so :math:`(F + kB)/(F + B)` of one target is the floor. An
  input-gradient backward costs about a forward (measured: ResNet-50 B/F 1.1-1.2, ViT-B/16
  1.1), so the floor is about (1 + k)/2 = 3 for k = 5.
* **Perturbation methods** (FeatureAblation, Occlusion, FeaturePermutation, Shapley values,
  LIME, Kernel SHAP, ...): the model is wrapped to return the k targeted outputs per example
  (an (N, k) output), so every perturbed forward pass serves all k targets; the method's
  per-output attribution rows are regrouped to (N, k, ...).
* **Anything else** (``n_steps="auto"``, DeepLift, NoiseTunnel, ...): each example is repeated k
  times with one target per copy and the method runs once on the N*k rows (k times the work,
  in one batched call).

Results are ``(N, k, *input.shape[1:])`` per input (a tuple when the inputs were a tuple) and,
with ``return_convergence_delta=True`` for methods that have one, deltas of shape (N, k).
Each slice ``[:, j]`` equals ``method.attribute(inputs, target=targets[:, j], ...)`` up to
float rounding.
"""

from __future__ import annotations

import copy
from typing import Any, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from ._utils.anytime import is_auto
from ._utils.forward import as_output_tensor, module_of
from ._utils.inputs import (
    expand_additional_forward_args,
    expand_baselines,
    format_additional_forward_args,
    format_inputs,
    forward_arguments,
    path_baselines,
    restore_format,
)
from ._utils.path import difference, integrate_gradients
from ._utils.quadrature import validate_rule
from ._utils.validation import check_optional_int, describe
from .base import Attribution, PerturbationAttribution
from .gradient.input_x_gradient import InputXGradient
from .gradient.integrated_gradients import IntegratedGradients
from .gradient.saliency import Saliency

TargetsLike = Union[Tensor, Sequence[int], Sequence[Sequence[int]]]


def format_targets(targets: TargetsLike, num_examples: int) -> Tensor:
    """``targets`` as a LongTensor (N, k): a 1-D list/tensor of k classes applies to every
    example; a 2-D one gives k classes per example."""
    value = torch.as_tensor(targets) if not isinstance(targets, Tensor) else targets
    if value.dtype in (torch.bool,) or value.is_floating_point() or value.is_complex():
        raise TypeError(f"`targets` must hold integer class indices; got {describe(targets)}.")
    if value.dim() == 1:
        value = value.unsqueeze(0).expand(num_examples, -1)
    if value.dim() != 2 or value.shape[0] != num_examples or value.shape[1] == 0:
        raise ValueError(
            f"`targets` must have shape (k,) or (N, k) with N = {num_examples} examples and "
            f"k >= 1; got shape {tuple(value.shape)}.")
    return value.long()


class TargetsOutput(nn.Module):
    """``model`` whose output is reduced to the k targeted values per example, shape (rows, k).

    Rows beyond N (stacked perturbed copies, copy-major) follow their example's targets. An
    ``nn.Module`` (not a closure) so the engines still see the model's modes and batch safety.
    """

    def __init__(self, forward_func: Any, targets: Tensor) -> None:
        super().__init__()
        model = module_of(forward_func)
        self.model = model if model is not None else None
        self._forward = forward_func
        self.targets = targets
        self.train(model.training if model is not None else False)

    def forward(self, *args: Any) -> Tensor:
        output = as_output_tensor(self._forward(*args))
        n = self.targets.shape[0]
        if output.dim() != 2 or output.shape[0] % n:
            raise ValueError(
                "attribute_all_targets needs a model output of shape (rows, classes) with rows a "
                f"multiple of the {n} examples; got {tuple(output.shape)}.")
        index = self.targets.to(output.device).repeat(output.shape[0] // n, 1)
        return output.gather(1, index)


def targeted_gradients(
    forward_func: Any, inputs: Tuple[Tensor, ...], targets: Tensor,
    args: Optional[Tuple[Any, ...]],
) -> Tuple[Tuple[Tensor, ...], Tensor]:
    """Gradients of the k targeted outputs w.r.t. the inputs from one forward and k backwards
    over the kept graph: ``(grads, outputs)`` with ``grads[i]`` of shape
    (R, k, *inputs[i].shape[1:]) and ``outputs`` (R, k); ``targets`` is (R, k).

    Sequential backwards, not one vmapped backward (``is_grads_batched``): measured on
    ResNet-50 (4 rows at 224x224, one thread) the vmapped backward of 5 targets took 3.5 s
    against 2.6-3.1 s for five in a row, on ViT-B/16 the same; and the kept graph is what
    one target saves, so the memory budget sizes chunks as for one target."""
    rows, k = targets.shape
    with torch.enable_grad():
        leaves = tuple(x.detach().requires_grad_() for x in inputs)
        output = as_output_tensor(forward_func(*forward_arguments(leaves, args)))
        if output.dim() != 2 or output.shape[0] != rows:
            raise ValueError(
                "attribute_all_targets needs a model output of shape (N, classes); got "
                f"{tuple(output.shape)} for {rows} rows.")
        selected = output.gather(1, targets.to(output.device))
        # d(sum of column j)/d(row r) = d y_{r,j} / d z_r: rows are independent
        per_target = [torch.autograd.grad(selected[:, j].sum(), leaves, allow_unused=True,
                                          retain_graph=j < k - 1) for j in range(k)]
    grads = tuple(torch.zeros(rows, k, *x.shape[1:], dtype=x.dtype, device=x.device)
                  if per_target[0][i] is None else torch.stack([p[i] for p in per_target], 1)
                  for i, x in enumerate(leaves))
    return grads, selected.detach()


def _targeted_outputs(forward_func: Any, inputs: Tuple[Tensor, ...], targets: Tensor,
                      args: Optional[Tuple[Any, ...]]) -> Tensor:
    with torch.no_grad():
        output = as_output_tensor(forward_func(*forward_arguments(inputs, args)))
    return output.gather(1, targets.to(output.device))


def _integrated_gradients(method: IntegratedGradients, inputs: Tuple[Tensor, ...],
                          targets: Tensor, kwargs: dict) -> Tuple[Tuple[Tensor, ...], Tensor]:
    baselines = path_baselines(kwargs.pop("baselines", None), inputs)
    args = format_additional_forward_args(kwargs.pop("additional_forward_args", None))
    rule = kwargs.pop("method", "gausslegendre")
    n_steps = validate_rule(rule, kwargs.pop("n_steps", 50))
    batch = check_optional_int("internal_batch_size", kwargs.pop("internal_batch_size", None),
                               minimum=1)
    if kwargs:
        raise TypeError(f"unexpected arguments for IntegratedGradients: {sorted(kwargs)}")
    k = targets.shape[1]

    def gradient_fn(points: Tuple[Tensor, ...], steps: int):
        return targeted_gradients(method.forward_func, points, targets.repeat(steps, 1),
                                  expand_additional_forward_args(args, steps))

    # the graph kept for the k backwards is one target's: chunks as for one target
    integral = integrate_gradients(gradient_fn, inputs, baselines, n_steps, rule, batch)
    values = integral.gradient_sums
    if method.multiplies_by_inputs:
        # (N, k, ...) gradient sums times the (N, 1, ...) differences of their example.
        values = tuple(g * difference(x, b).unsqueeze(1)
                       for g, x, b in zip(values, inputs, baselines))
    n = inputs[0].shape[0]
    full = expand_baselines(baselines, inputs)
    both = _targeted_outputs(method.forward_func,
                             tuple(torch.cat([x, b]) for x, b in zip(inputs, full)),
                             targets.repeat(2, 1), expand_additional_forward_args(args, 2))
    total = sum(v.reshape(n, k, -1).sum(2) for v in values)
    delta = total - (both[:n] - both[n:]).to(total.dtype)
    return values, delta


def attribute_all_targets(
    method: Attribution,
    inputs: Union[Tensor, Tuple[Tensor, ...]],
    targets: TargetsLike,
    return_convergence_delta: bool = False,
    **kwargs: Any,
) -> Any:
    """Attributions of ``method`` for every target in ``targets`` (see the module docstring).

    Args:
        method: an attribution object (e.g. ``IntegratedGradients(model)``).
        inputs: tensor or tuple of tensors, dim 0 = N examples.
        targets: k class indices for every example, shape (k,), or per example, (N, k).
        return_convergence_delta: also return deltas (N, k) (methods with a delta only).
        **kwargs: the method's other ``attribute`` arguments (not ``target``).

    Returns:
        Per input a tensor (N, k, *input.shape[1:]) (a tuple if ``inputs`` was), and the
        deltas (N, k) when asked.
    """
    if "target" in kwargs:
        raise ValueError("attribute_all_targets takes `targets` (k per example), not `target`.")
    formatted, was_tuple = format_inputs(inputs)
    n = formatted[0].shape[0]
    chosen = format_targets(targets, n)
    k = chosen.shape[1]
    if return_convergence_delta and not method.has_convergence_delta():
        raise ValueError(f"`return_convergence_delta=True` is not supported: "
                         f"{type(method).__name__} has no convergence delta.")
    delta: Optional[Tensor] = None
    if type(method) is IntegratedGradients and not is_auto(kwargs.get("n_steps", 50)):
        values, delta = _integrated_gradients(method, formatted, chosen, dict(kwargs))
    elif type(method) in (Saliency, InputXGradient):
        args = format_additional_forward_args(kwargs.pop("additional_forward_args", None))
        absolute = kwargs.pop("abs", True) if type(method) is Saliency else False
        if kwargs:
            raise TypeError(f"unexpected arguments for {type(method).__name__}: {sorted(kwargs)}")
        grads, _ = targeted_gradients(method.forward_func, formatted, chosen, args)
        values = tuple(g.abs() if absolute else g for g in grads)
        if type(method) is InputXGradient:
            values = tuple(g * x.unsqueeze(1) for g, x in zip(values, formatted))
    elif isinstance(method, PerturbationAttribution) and not hasattr(method, "layer"):
        shared = copy.copy(method)
        shared.forward_func = TargetsOutput(method.forward_func, chosen)
        result = shared.attribute(inputs, **kwargs)
        parts, _ = format_inputs(result, "attributions")
        values = tuple(p.reshape(n, k, *p.shape[1:]) for p in parts)
    else:
        values, delta = _replicated(method, formatted, was_tuple, chosen,
                                    return_convergence_delta, kwargs)
    result = restore_format(values, was_tuple)
    if not return_convergence_delta:
        return result
    assert delta is not None
    return result, delta


def _replicated(method: Attribution, inputs: Tuple[Tensor, ...], was_tuple: bool,
                targets: Tensor, with_delta: bool, kwargs: dict
                ) -> Tuple[Tuple[Tensor, ...], Optional[Tensor]]:
    """Each example repeated k times (example-major), one target per copy, one call."""
    n, k = targets.shape
    rows = tuple(x.repeat_interleave(k, dim=0) for x in inputs)
    call = dict(kwargs)
    for name in ("baselines", "additional_forward_args"):
        value = call.get(name)
        if value is None:
            continue
        entries = value if isinstance(value, tuple) else (value,)
        expanded = tuple(e.repeat_interleave(k, dim=0)
                         if isinstance(e, Tensor) and e.dim() > 0 and e.shape[0] == n and n > 1
                         else e for e in entries)
        call[name] = expanded if isinstance(value, tuple) else expanded[0]
    if with_delta:
        call["return_convergence_delta"] = True
    result = method.attribute(restore_format(rows, was_tuple), target=targets.reshape(-1),
                              **call)
    delta = None
    if with_delta:
        result, delta = result
        delta = delta.reshape(n, k)
    parts, _ = format_inputs(result, "attributions")
    return tuple(p.reshape(n, k, *p.shape[1:]) for p in parts), delta


__all__ = ["TargetsOutput", "attribute_all_targets", "format_targets", "targeted_gradients"]
