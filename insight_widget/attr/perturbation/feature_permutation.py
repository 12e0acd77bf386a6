"""Feature Permutation: the output change when a feature group is shuffled across the batch."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from .._utils.inputs import restore_format
from .._utils.perturbation import ablation_attributions, plan_evaluation
from .._utils.progress import text_progress
from .._utils.validation import check_callable
from ..base import PerturbationAttribution, TensorOrTupleOfTensors
from ._common import completed_future, prepare_perturbation, progress_title, waiting


def _permute_feature(x: Tensor, feature_mask: Tensor) -> Tensor:
    """Captum's default ``perm_func``: rows of ``x`` shuffled where ``feature_mask`` is True.

    Draws ``torch.randperm(N)`` and redraws while it is the identity (so the feature really
    moves); row r of the result takes row ``perm[r]`` inside the mask.
    """
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"FeaturePermutation needs a batch of at least 2 examples to permute "
                         f"across; got {n}.")
    identity = torch.arange(n, device=x.device)
    perm = torch.randperm(n, device=x.device)
    while bool((perm == identity).all()):
        perm = torch.randperm(n, device=x.device)
    return torch.where(feature_mask.to(x.device), x[perm], x)


class FeaturePermutation(PerturbationAttribution):
    r"""Permutation importance: each feature group g is shuffled across the examples of the
    batch (``perm_func``), and every element of g gets

    .. math:: a_{r,e} = F(x)_r - F(\pi_g(x))_r,\quad g \ni e.

    Needs at least 2 examples. Random numbers are drawn in Captum's order (group by group,
    input by input), so seeded runs match Captum's with ``perturbations_per_eval`` = 1.

    Args:
        forward_func: the model or any callable returning the output tensor.
        perm_func: ``perm_func(x, mask) -> x`` with the masked elements permuted across dim 0.
    """

    def __init__(self, forward_func: Callable[..., Any],
                 perm_func: Callable[[Tensor, Tensor], Tensor] = _permute_feature) -> None:
        super().__init__(forward_func)
        self.perm_func = check_callable("perm_func", perm_func)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        perturbations_per_eval: int = 1,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> TensorOrTupleOfTensors:
        """Permutation attributions shaped like ``inputs`` (see :class:`FeatureAblation` for
        the arguments; there is no baseline: the batch itself is the reference)."""
        return self._attribute(self.forward_func, inputs, target, additional_forward_args,
                               feature_mask, perturbations_per_eval, show_progress)

    def _attribute(self, forward_func: Callable[..., Any], inputs: Any, target: Any,
                   additional_forward_args: Any, feature_mask: Any,
                   perturbations_per_eval: int, show_progress: bool) -> TensorOrTupleOfTensors:
        prepared = prepare_perturbation(forward_func, inputs, None, target,
                                        additional_forward_args, feature_mask, show_progress)
        call, masks = prepared.call, prepared.masks
        if call.num_examples < 2:
            raise ValueError(
                "FeaturePermutation permutes features across the examples of the batch, so "
                f"`inputs` must hold at least 2 examples (dim 0); got {call.num_examples}."
            )

        def perturb(_index: int, value: Tensor, selected: Tensor) -> Tensor:
            return self.perm_func(value, selected)

        with torch.no_grad(), text_progress(show_progress, progress_title(self)):
            plan = plan_evaluation(prepared.evaluate, call.inputs, masks.n_groups,
                                   perturbations_per_eval, forward_func)
            attributions = ablation_attributions(
                prepared.evaluate, call.inputs, None, masks, plan, perturb=perturb,
                groups_per_build=perturbations_per_eval)
        return restore_format(attributions, call.was_tuple)

    def attribute_future(
        self,
        inputs: TensorOrTupleOfTensors,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        perturbations_per_eval: int = 1,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> torch.futures.Future:
        """:meth:`attribute` for a ``forward_func`` returning ``torch.futures.Future``."""
        return completed_future(self._attribute(
            waiting(self.forward_func), inputs, target, additional_forward_args, feature_mask,
            perturbations_per_eval, show_progress))
