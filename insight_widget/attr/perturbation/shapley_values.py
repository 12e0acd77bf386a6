"""Exact Shapley values (Shapley, 1953) over feature groups."""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Tuple

import torch
from torch import Tensor

from .._utils.perturbation import coalition_rows, evaluate_perturbations, plan_evaluation
from .._utils.progress import progress_bar
from ..base import TensorOrTupleOfTensors
from ._common import PerturbationCall, prepare_perturbation, progress_title
from .shapley_value_sampling import ShapleyValueSampling, _present_players, _spread

# Above this many features the 2^M coalitions are refused (2^25 = 33.5M model evaluations
# per example); from WARN_FEATURES on, a warning gives the count (Captum warns from 10).
MAX_FEATURES = 25
WARN_FEATURES = 10


class ShapleyValues(ShapleyValueSampling):
    r"""Exact Shapley values of the feature groups:

    .. math:: \phi_i = \sum_{S \subseteq M \setminus \{i\}}
        \frac{|S|!\,(|M|-|S|-1)!}{|M|!} \left(F(x_{S \cup \{i\}}) - F(x_S)\right)

    where :math:`x_S` keeps the features in S and sets the others to the baseline.

    Captum averages over all :math:`M!` orders (:math:`M \cdot M!` evaluations); this
    evaluates each of the :math:`2^M` coalitions once instead (the same values, up to float
    rounding; ids without elements are null players and are left out of the game, which does
    not change the values of the others). Feasible up to about 20 features; from 10 on a
    warning gives the count, above 25 a ``ValueError``.

    Args:
        forward_func: the model or any callable returning the output tensor.
    """

    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        perturbations_per_eval: int = 1,
        show_progress: bool = False,
    ) -> TensorOrTupleOfTensors:
        """Exact Shapley values shaped like ``inputs`` (``(R, ...)`` for aggregated outputs);
        arguments as for :class:`FeatureAblation` (feature ids must be >= 0)."""
        return self._attribute(inputs, baselines, target, additional_forward_args, feature_mask,
                               1, perturbations_per_eval, show_progress)

    def _attribute(self, inputs: Any, baselines: Any, target: Any, additional_forward_args: Any,
                   feature_mask: Any, n_samples: int, perturbations_per_eval: int,
                   show_progress: bool, futures: bool = False) -> TensorOrTupleOfTensors:
        forward_func = self.forward_func
        prepared = prepare_perturbation(forward_func, inputs, baselines, target,
                                        additional_forward_args, feature_mask, show_progress,
                                        allow_negative_ids=False, futures=futures)
        with torch.no_grad(), progress_bar(show_progress, progress_title(self)):
            per_player, output_shape = _exact_shapley(prepared, forward_func,
                                                      perturbations_per_eval)
        return _spread(prepared, per_player, output_shape)


def _check_feasible(players: int, num_examples: int) -> None:
    coalitions = 2 ** players
    if players > MAX_FEATURES:
        raise ValueError(
            f"ShapleyValues over {players} features would evaluate all 2^{players} = "
            f"{coalitions:,} coalitions ({coalitions * num_examples:,} model rows), which is "
            f"not feasible; the limit is {MAX_FEATURES} features. Group features with "
            "`feature_mask` or use ShapleyValueSampling."
        )
    if players >= WARN_FEATURES:
        warnings.warn(
            f"ShapleyValues over {players} features evaluates all 2^{players} = {coalitions:,} "
            f"coalitions ({coalitions * num_examples:,} model rows); this may be slow. Consider "
            "grouping features with `feature_mask` or ShapleyValueSampling.",
            UserWarning,
            stacklevel=4,
        )


def _exact_shapley(prepared: PerturbationCall, forward_func: Callable[..., Any],
                   perturbations_per_eval: int) -> Tuple[Tensor, torch.Size]:
    """(R, P) exact Shapley values of the P = max id + 1 players (0 for ids without elements),
    and the shape of the targeted output (R values)."""
    call, masks = prepared.call, prepared.masks
    n_players = masks.max_id + 1
    players = torch.nonzero(_present_players(prepared, n_players)).flatten()  # the real game
    m = len(players)
    _check_feasible(m, call.num_examples)
    n_coalitions = 2 ** m
    n_evaluated = n_coalitions - 1  # the full coalition is F(x), from the unperturbed forward
    plan = plan_evaluation(prepared.evaluate, call.inputs, n_evaluated, perturbations_per_eval,
                           forward_func)
    values = torch.empty(n_coalitions, plan.n_out, dtype=torch.float64,
                         device=plan.output.device)
    values[n_coalitions - 1] = plan.flat_output.double()
    bits = 2 ** torch.arange(m)

    def build(start: int, stop: int) -> Tuple[Tensor, ...]:
        members = (torch.arange(start, stop).unsqueeze(1) & bits) > 0  # (k, m)
        present = torch.zeros(stop - start, n_players, dtype=torch.bool)
        present[:, players] = members
        return coalition_rows(call.inputs, prepared.baselines, masks.masks,
                              present.to(call.inputs[0].device))

    def consume(start: int, stop: int, outputs: Tensor) -> None:
        values[start:stop] = outputs.double()

    evaluate_perturbations(prepared.evaluate, plan, n_evaluated, build, consume)
    coalitions = torch.arange(n_coalitions)
    sizes = torch.zeros(n_coalitions, dtype=torch.long)
    for b in bits.tolist():
        sizes += (coalitions & b) > 0
    weights = torch.tensor([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m)
                            if s < m else 0.0 for s in range(m + 1)], dtype=torch.float64)
    result = torch.zeros(plan.n_out, n_players, dtype=torch.float64, device=values.device)
    for column, b in zip(players.tolist(), bits.tolist()):
        without = coalitions[(coalitions & b) == 0]
        gain = values[without | b] - values[without]  # (2^(m-1), R)
        result[:, column] = (weights[sizes[without]].to(values.device).unsqueeze(1) * gain).sum(0)
    return result.to(plan.output.dtype), plan.output.shape
