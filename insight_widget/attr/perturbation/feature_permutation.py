"""Feature Permutation: the output change when a feature group is shuffled across the batch."""

from __future__ import annotations

import warnings
from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from .._utils.feature_mask import FeatureMasks
from .._utils.inputs import restore_format
from .._utils.perturbation import ablation_attributions, plan_evaluation
from .._utils.progress import progress_bar
from .._utils.validation import check_callable
from ..base import PerturbationAttribution, TensorOrTupleOfTensors
from ._common import finished_future, prepare_perturbation, progress_title


def _unpermutable_groups(inputs: Tuple[Tensor, ...], masks: FeatureMasks,
                         min_examples: int) -> Optional[Tensor]:
    """Bool (G,) per group in group order: the group lies in an input with fewer than
    ``min_examples`` examples, so it cannot be permuted (its attribution is 0, as in Captum);
    ``None`` when every group can be. Warns naming the count."""
    small = [ids for x, ids in zip(inputs, masks.ids_per_input) if x.shape[0] < min_examples]
    if not small:
        return None
    frozen = torch.isin(masks.group_ids, torch.cat(small))
    warnings.warn(
        f"FeaturePermutation permutes features across the examples of the batch; "
        f"{int(frozen.sum())} of {masks.n_groups} feature group(s) lie in an input with fewer "
        f"than {min_examples} examples (batch sizes {[x.shape[0] for x in inputs]}) and get "
        "attribution 0.",
        UserWarning,
        stacklevel=4,
    )
    return frozen


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

    A group lying in an input with fewer than 2 examples cannot be permuted: it gets
    attribution 0, with a warning (Captum returns the 0 silently). The inputs' batch sizes
    may differ (e.g. a list of sparse ids next to the examples); each tensor is permuted
    across its own dim 0. Random numbers are drawn in Captum's order (group by group, input
    by input), so seeded runs match Captum's with ``perturbations_per_eval`` = 1.

    Args:
        forward_func: the model or any callable returning the output tensor.
        perm_func: ``perm_func(x, mask) -> x`` with the masked elements permuted across dim 0.
    """

    # Groups lying in an input with fewer examples than this are not permuted (attribution 0);
    # Captum's private knob, kept under Captum's name.
    _min_examples_per_batch_grouped = 2

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
        return self._attribute(inputs, target, additional_forward_args, feature_mask,
                               perturbations_per_eval, show_progress)

    def _attribute(self, inputs: Any, target: Any, additional_forward_args: Any,
                   feature_mask: Any, perturbations_per_eval: int, show_progress: bool,
                   futures: bool = False) -> TensorOrTupleOfTensors:
        forward_func = self.forward_func
        prepared = prepare_perturbation(forward_func, inputs, None, target,
                                        additional_forward_args, feature_mask, show_progress,
                                        futures=futures)
        call, masks = prepared.call, prepared.masks
        frozen = _unpermutable_groups(call.inputs, masks, self._min_examples_per_batch_grouped)

        def perturb(index: int, value: Tensor, selected: Tensor) -> Tensor:
            if frozen is not None and bool(frozen[masks.positions[index][selected][0]]):
                return value
            return self.perm_func(value, selected)

        with torch.no_grad(), progress_bar(show_progress, progress_title(self)):
            plan = plan_evaluation(prepared.evaluate, call.inputs, masks.n_groups,
                                   perturbations_per_eval, forward_func)
            if frozen is not None and bool(frozen.all()):
                # nothing can be permuted: zeros, whatever the masks' rows (no evaluation)
                zeros = tuple(torch.zeros(plan.n_out, *x.shape[1:], dtype=plan.output.dtype,
                                          device=plan.output.device) for x in call.inputs)
                return restore_format(zeros, call.was_tuple)
            attributions = ablation_attributions(
                prepared.evaluate, call.inputs, None, masks, plan, perturb=perturb,
                groups_per_build=perturbations_per_eval)
        if frozen is not None:
            attributions = tuple(
                a.masked_fill(frozen[p.to(frozen.device)], 0)
                for a, p in zip(attributions, masks.positions))
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
        """:meth:`attribute` for a ``forward_func`` returning ``torch.futures.Future``; see
        :meth:`FeatureAblation.attribute_future`."""
        return finished_future(self._attribute(
            inputs, target, additional_forward_args, feature_mask, perturbations_per_eval,
            show_progress, futures=True))
