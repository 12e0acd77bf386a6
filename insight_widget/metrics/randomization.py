"""Cascading model-parameter randomisation sanity check (Adebayo et al., "Sanity Checks for
Saliency Maps", NeurIPS 2018)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from ..attr.base import Attribution
from ..attr.core import (
    HookSet,
    check_bool,
    check_int,
    check_module,
    describe,
    format_inputs,
    report_progress,
    resolve_modules,
)
from ._correlation import spearman
from ._shapes import check_same_shapes, flatten_examples

Explain = Callable[..., Any]


@dataclass(frozen=True)
class RandomizationResult:
    """Similarity of the explanation to the original as layers are randomised.

    Attributes:
        layers: names of the randomised modules in the order they were randomised (the
            logits' layer first); step i has layers[0..i] randomised.
        correlation: (L, N) Spearman rank correlation between each example's original
            attribution and its attribution after step i (NaN where either is constant).
        attributions: the attributions after each step (a tuple of L results in the form
            ``explain`` returns) when ``return_attributions=True``, else None.
    """

    layers: Tuple[str, ...]
    correlation: Tensor
    attributions: Optional[Tuple[Any, ...]] = None


def model_parameter_randomization(
    model: nn.Module,
    explain: Union[Explain, type],
    inputs: Any,
    layers: Optional[Sequence[Union[str, nn.Module]]] = None,
    absolute: bool = True,
    seed: int = 42,
    return_attributions: bool = False,
    **attribute_kwargs: Any,
) -> RandomizationResult:
    r"""Randomise the model's layers one after another, from the logits down to the input
    (cascading), recompute the explanation after each step and measure its Spearman rank
    correlation with the original explanation. A method that explains the *model* loses
    similarity as layers are randomised; one that merely reflects the input does not.

    The user's model is never modified: everything runs on a deep copy. Each randomised
    parameter tensor is redrawn from a normal distribution with mean 0 and the tensor's own
    standard deviation (the largest magnitude, or 1, for constant tensors), clipped at two
    standard deviations, from a generator seeded with ``seed``; buffers (e.g. batch-norm
    statistics) are kept.

    Args:
        model: the model to check.
        explain: ``explain(model, inputs, **attribute_kwargs)`` returning attributions, or an
            attribution class (e.g. ``Saliency``), used as
            ``cls(model).attribute(inputs, **attribute_kwargs)``.
        inputs: tensor or tuple of tensors, dim 0 = N examples.
        layers: modules (or dotted names) to randomise, in this order; None = every module
            owning parameters, in reverse order of their first call in the forward pass.
        absolute: compare magnitudes |a| (default) rather than signed attributions.
        seed: seed of the randomisation.
        return_attributions: keep the explanation of every step in the result.
        **attribute_kwargs: passed to ``explain`` (e.g. ``target=...``).

    Returns:
        :class:`RandomizationResult` with ``correlation`` of shape (L, N).
    """
    check_module("model", model, "its layers are randomised")
    check_bool("absolute", absolute)
    check_bool("return_attributions", return_attributions)
    seed = check_int("seed", seed)
    formatted, _ = format_inputs(inputs)
    n = formatted[0].shape[0]
    run = _explainer(explain, attribute_kwargs)
    work = copy.deepcopy(model)

    order: List[nn.Module] = []

    def record(module: nn.Module, _inputs: Any, _output: Any) -> None:
        if module not in order:
            order.append(module)

    with HookSet() as hooks:
        if layers is None:
            for module in work.modules():
                if any(True for _ in module.parameters(recurse=False)):
                    hooks.forward_hook(module, record)
        original = _rows(run(work, inputs), formatted, n, absolute)
    if layers is None:
        order.reverse()
    else:
        names = {id(m): name for name, m in model.named_modules()}
        copies = dict(work.named_modules())
        order = [copies[names[id(m)]] for m in resolve_modules(model, layers)]
    if not order:
        raise ValueError(
            "`model` has no module with parameters that ran in the forward pass; nothing to "
            "randomise."
        )
    labels = {m: name or type(m).__name__ for name, m in work.named_modules()}
    generator = torch.Generator().manual_seed(seed)
    correlations, kept = [], []
    for step, module in enumerate(order):
        _randomize(module, generator)
        result = run(work, inputs)
        correlations.append(spearman(original, _rows(result, formatted, n, absolute)))
        if return_attributions:
            kept.append(result)
        report_progress(step + 1, len(order))
    return RandomizationResult(tuple(labels[m] for m in order), torch.stack(correlations),
                               tuple(kept) if return_attributions else None)


def _explainer(explain: Any, kwargs: dict) -> Callable[[nn.Module, Any], Any]:
    if isinstance(explain, type) and (issubclass(explain, Attribution)
                                      or hasattr(explain, "attribute")):
        return lambda model, inputs: explain(model).attribute(inputs, **kwargs)
    if not callable(explain):
        raise TypeError(
            "`explain` must be an attribution class or a callable explain(model, inputs); got "
            f"{describe(explain)}."
        )
    return lambda model, inputs: explain(model, inputs, **kwargs)


def _rows(attributions: Any, inputs: Tuple[Tensor, ...], n: int, absolute: bool) -> Tensor:
    formatted, _ = format_inputs(attributions, "the result of `explain`")
    check_same_shapes(formatted, inputs, "the result of `explain`", "inputs")
    rows = flatten_examples([a.detach() for a in formatted], n)
    return rows.abs() if absolute else rows


def _randomize(module: nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for parameter in module.parameters(recurse=False):
            values = parameter.detach().double()
            scale = float(values.std()) if values.numel() > 1 else 0.0
            if not scale > 0:
                scale = float(values.abs().max()) or 1.0
            draw = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            draw = draw.clamp(-2.0, 2.0) * scale
            parameter.copy_(draw.to(device=parameter.device, dtype=parameter.dtype))
