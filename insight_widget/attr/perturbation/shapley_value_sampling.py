"""Shapley Value Sampling (Castro et al., 2009): Shapley values averaged over random orders."""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import torch
from torch import Tensor

from .._utils.feature_mask import spread_to_elements
from .._utils.inputs import restore_format
from .._utils.perturbation import coalition_rows, evaluate_perturbations, plan_evaluation
from .._utils.progress import progress_bar
from .._utils.validation import check_int
from ..base import PerturbationAttribution, TensorOrTupleOfTensors
from ._common import (
    PerturbationCall,
    finished_future,
    prepare_perturbation,
    progress_title,
)


class ShapleyValueSampling(PerturbationAttribution):
    r"""Shapley values estimated from ``n_samples`` random feature orders.

    For each order :math:`\pi` (``torch.randperm`` over the feature ids ``0..M-1``, drawn
    sample by sample as Captum draws them), features are added one by one to the baseline
    and each is credited its marginal contribution; the credits are averaged:

    .. math:: \phi_i = \frac{1}{S} \sum_{s=1}^{S}
        \left(F(x_{\pi_s^{\le i}}) - F(x_{\pi_s^{< i}})\right).

    Each order's contributions telescope, so :math:`\sum_i \phi_i = F(x) - F(x')` for any
    ``n_samples`` (efficiency). F(x) and F(x') are evaluated once (Captum re-evaluates F(x) per
    order) and an order step adding an id with no elements is not evaluated (its contribution
    is 0); batching as in :class:`FeatureAblation`.

    Args:
        forward_func: the model or any callable returning the output tensor.
    """

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        n_samples: int = 25,
        perturbations_per_eval: int = 1,
        show_progress: bool = False,
    ) -> TensorOrTupleOfTensors:
        """Sampled Shapley values, shaped like ``inputs`` (``(R, ...)`` for aggregated outputs).

        Arguments as for :class:`FeatureAblation`, plus ``n_samples`` (>= 1): the number of
        random feature orders. Feature ids must be >= 0; ids run ``0..max id``.
        """
        return self._attribute(inputs, baselines, target, additional_forward_args, feature_mask,
                               n_samples, perturbations_per_eval, show_progress)

    def _attribute(self, inputs: Any, baselines: Any, target: Any, additional_forward_args: Any,
                   feature_mask: Any, n_samples: int, perturbations_per_eval: int,
                   show_progress: bool, futures: bool = False) -> TensorOrTupleOfTensors:
        n_samples = check_int("n_samples", n_samples, minimum=1)
        forward_func = self.forward_func
        prepared = prepare_perturbation(forward_func, inputs, baselines, target,
                                        additional_forward_args, feature_mask, show_progress,
                                        allow_negative_ids=False, futures=futures)
        with torch.no_grad(), progress_bar(show_progress, progress_title(self)):
            per_player, output_shape = _sampled_shapley(prepared, forward_func, n_samples,
                                                        perturbations_per_eval, _spread)
        return _spread(prepared, per_player, output_shape)

    def attribute_future(
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        n_samples: int = 25,
        perturbations_per_eval: int = 1,
        show_progress: bool = False,
    ) -> torch.futures.Future:
        """:meth:`attribute` for a ``forward_func`` returning ``torch.futures.Future``; see
        :meth:`FeatureAblation.attribute_future`. ShapleyValues inherits it (with Captum's
        signature: its ``n_samples`` is ignored)."""
        return finished_future(self._attribute(
            inputs, baselines, target, additional_forward_args, feature_mask, n_samples,
            perturbations_per_eval, show_progress, futures=True))


def _spread(prepared: PerturbationCall, per_player: Tensor,
            output_shape: torch.Size) -> TensorOrTupleOfTensors:
    """Per-player values (R, P) -> attributions per element (players are the mask ids).

    Shapes follow Captum's Shapley methods: ``(*output_shape, *input.shape[1:])`` for the
    targeted output's shape (``(1,)`` for a scalar), e.g. ``(N, T, ...)`` for T outputs per
    example. A per-example mask row n applies to the R / N outputs of example n.
    """
    call = prepared.call
    rows = per_player.shape[0]
    attributions = []
    for ids, x in zip(prepared.masks.masks, call.inputs):
        if 1 < ids.shape[0] < rows and rows % ids.shape[0] == 0:
            ids = ids.repeat_interleave(rows // ids.shape[0], dim=0)
        spread = spread_to_elements(per_player, ids, x.shape)
        attributions.append(spread.reshape(*(output_shape or (1,)), *x.shape[1:]))
    return restore_format(tuple(attributions), call.was_tuple)


def _present_players(prepared: PerturbationCall, n_players: int) -> Tensor:
    """Bool (P,): the player ids that own at least one element."""
    present = torch.zeros(n_players, dtype=torch.bool)
    for ids in prepared.masks.ids_per_input:
        present[ids.cpu()] = True
    return present


def _sampled_shapley(prepared: PerturbationCall, forward_func: Callable[..., Any],
                     n_samples: int, perturbations_per_eval: int,
                     spread: Optional[Callable[..., Any]] = None) -> Tuple[Tensor, torch.Size]:
    """(R, P) sampled Shapley values of the P = max id + 1 players, and the shape of the
    targeted output (R values). With ``spread(prepared, per_player, output_shape)``, the
    estimate from the orders evaluated so far is offered after each chunk (progress
    listeners that take partial results)."""
    call, masks = prepared.call, prepared.masks
    n_players = masks.max_id + 1
    orders = torch.stack([torch.randperm(n_players) for _ in range(n_samples)])  # (S, P)
    ranks = torch.argsort(orders, dim=1)  # ranks[s, player] = its position in order s
    owns = _present_players(prepared, n_players)
    # Steps k = 1..P-1 of each order that add a player owning elements; step P is F(x).
    step_owner = owns[orders[:, :-1]]  # (S, P-1)
    sample_index, step_index = torch.nonzero(step_owner, as_tuple=True)
    steps = step_index + 1
    n_evaluated = 1 + len(steps)  # the empty coalition (baselines), then the steps
    plan = plan_evaluation(prepared.evaluate, call.inputs, n_evaluated, perturbations_per_eval,
                           forward_func)
    y_full = plan.flat_output
    outputs = torch.empty(n_evaluated, plan.n_out, dtype=y_full.dtype, device=y_full.device)

    def build(start: int, stop: int) -> Tuple[Tensor, ...]:
        index = torch.arange(start, stop)
        present = torch.zeros(stop - start, n_players, dtype=torch.bool)
        evaluated = index > 0
        chosen = index[evaluated] - 1
        present[evaluated] = ranks[sample_index[chosen]] < steps[chosen].unsqueeze(1)
        device = call.inputs[0].device
        return coalition_rows(call.inputs, prepared.baselines, masks.masks, present.to(device))

    done = [0]  # evaluations consumed so far (chunks arrive in order)

    def consume(start: int, stop: int, values: Tensor) -> None:
        outputs[start:stop] = values.to(outputs.dtype)
        done[0] = stop

    # Evaluation 1 + j is step steps[j] of order sample_index[j] (row-major: order by order),
    # so order s is complete once evaluation ends[s] is in.
    ends = torch.bincount(sample_index, minlength=n_samples).cumsum(0)

    def estimate(count: int) -> Tensor:
        """(R, P): the mean over the first ``count`` orders."""
        used = int(ends[count - 1]) if count else 0
        # Output after each step of each order: evaluated steps, forward-filled over steps
        # that add an id without elements (they change nothing), F(x') at step 0 and F(x)
        # at step P.
        slot = torch.zeros(count, n_players + 1, dtype=torch.long)
        slot[sample_index[:used], steps[:used]] = torch.arange(1, used + 1)
        slot = torch.cummax(slot, dim=1).values
        curve = outputs[slot.to(outputs.device)]  # (S, P+1, R)
        curve[:, n_players] = y_full
        contributions = curve[:, 1:] - curve[:, :-1]  # (S, P, R): step k adds orders[s, k]
        per_player = torch.gather(contributions, 1, ranks[:count].to(outputs.device)
                                  .unsqueeze(2).expand(-1, -1, plan.n_out))
        return (per_player.sum(0) / count).t().contiguous()

    def partial() -> Any:
        count = int((ends < done[0]).sum())
        if count == 0:
            return spread(prepared, torch.zeros(plan.n_out, n_players, dtype=outputs.dtype,
                                                 device=outputs.device), plan.output.shape)
        return spread(prepared, estimate(count), plan.output.shape)

    evaluate_perturbations(prepared.evaluate, plan, n_evaluated, build, consume,
                           partial=partial if spread is not None else None)
    return estimate(n_samples), plan.output.shape
