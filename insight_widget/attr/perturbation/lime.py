"""LIME with binary interpretable features over feature groups (Captum's ``Lime``)."""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .._utils.feature_mask import FeatureMasks, spread_to_elements
from .._utils.inputs import format_baselines, restore_format, slice_additional_forward_args
from .._utils.perturbation import coalition_rows, input_evaluator, plan_evaluation
from .._utils.progress import progress_bar
from .._utils.validation import check_bool, check_choice, check_int, check_number
from ..base import TensorOrTupleOfTensors
from ._common import prepare_perturbation, progress_title
from .interpretable_models import LassoRegression
from .lime_base import (
    LimeBase,
    SampleSet,
    check_interpretable_model,
    draw_like_captum_fit,
    draw_samples,
    evaluate_samples,
    fit_surrogate,
    own_surrogate,
)


def _flat(inputs: Any) -> Tensor:
    parts = inputs if isinstance(inputs, tuple) else (inputs,)
    return _floating(torch.cat([p.reshape(-1) for p in parts]))


def _floating(values: Tensor) -> Tensor:
    """Distances need floating point: token ids and other integer or bool inputs are compared
    as float32 values (as Captum's kernel does); floating inputs keep their precision."""
    return values if values.is_floating_point() else values.float()


def get_exp_kernel_similarity_function(
    distance_mode: str = "cosine", kernel_width: float = 1.0
) -> Callable[..., float]:
    r"""Similarity :math:`\exp(-d^2 / (2 w^2))` of the original and perturbed inputs, with d the
    cosine distance (1 - cosine similarity) or the Euclidean distance between the flattened
    (and concatenated) inputs and w = ``kernel_width``."""
    check_choice("distance_mode", distance_mode, ["cosine", "euclidean"])
    width = check_number("kernel_width", kernel_width)

    def default_exp_kernel(original_inp: Any, perturbed_inp: Any, perturbed_interpretable_inp:
                           Any, **kwargs: Any) -> float:
        a, b = _flat(original_inp), _flat(perturbed_inp)
        if distance_mode == "cosine":
            distance = 1 - float(F.cosine_similarity(a, b, dim=0))
        else:
            distance = float(torch.norm(a - b))
        return math.exp(-(distance ** 2) / (2 * width ** 2))

    default_exp_kernel.distance_mode = distance_mode  # type: ignore[attr-defined]
    default_exp_kernel.kernel_width = width  # type: ignore[attr-defined]
    return default_exp_kernel


def default_perturb_func(original_inp: Any, **kwargs: Any) -> Tensor:
    """A binary vector (1, num_interp_features): each feature kept with probability 1/2."""
    device = (original_inp[0] if isinstance(original_inp, tuple) else original_inp).device
    probabilities = torch.full((1, kwargs["num_interp_features"]), 0.5, device=device)
    return torch.bernoulli(probabilities).long()


def default_from_interp_rep_transform(curr_sample: Tensor, original_inputs: Any,
                                      **kwargs: Any) -> Any:
    """Input of a binary interpretable sample: features set to 1 keep the input, the others
    take the baseline (``kwargs``: ``feature_mask``, ``baselines``, tuples per input)."""
    inputs = original_inputs if isinstance(original_inputs, tuple) else (original_inputs,)
    present = curr_sample.reshape(1, -1).bool()
    result = []
    for x, mask, baseline in zip(inputs, kwargs["feature_mask"], kwargs["baselines"]):
        keep = present[:, mask.reshape(-1)].reshape(mask.shape)
        result.append(torch.where(keep, x, torch.as_tensor(baseline, dtype=x.dtype,
                                                           device=x.device)))
    return tuple(result) if isinstance(original_inputs, tuple) else result[0]


class Lime(LimeBase):
    r"""LIME over binary interpretable features: feature group j (``feature_mask`` id j) is
    kept (1) or set to the baseline (0); a linear surrogate fitted to the model's outputs on
    ``n_samples`` random such samples, weighted by their similarity to the input, gives one
    coefficient per group.

    Defaults (Captum's): ``interpretable_model`` = Lasso with alpha 0.01 (scikit-learn's when
    installed, see :class:`~.interpretable_models.LassoRegression`), ``similarity_func`` =
    :math:`\exp(-d_{cos}^2/2)`, ``perturb_func`` = independent fair coin per feature.

    A batch with one output per example trains one surrogate per example, as Captum does, but
    the samples of all examples share forward passes. With the default functions the samples
    are built and weighted in tensors; random numbers are drawn in Captum's order, so seeded
    runs give Captum's numbers.
    """

    def __init__(
        self,
        forward_func: Callable[..., Any],
        interpretable_model: Optional[Any] = None,
        similarity_func: Optional[Callable[..., Any]] = None,
        perturb_func: Optional[Callable[..., Any]] = None,
    ) -> None:
        model = LassoRegression(alpha=0.01) if interpretable_model is None else (
            check_interpretable_model(interpretable_model))
        super().__init__(
            forward_func, model,
            get_exp_kernel_similarity_function() if similarity_func is None else similarity_func,
            default_perturb_func if perturb_func is None else perturb_func,
            True, default_from_interp_rep_transform, None)

    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        n_samples: int = 25,
        perturbations_per_eval: int = 1,
        return_input_shape: bool = True,
        show_progress: bool = False,
    ) -> TensorOrTupleOfTensors:
        """Surrogate coefficients per feature group.

        Args:
            inputs, baselines, target, additional_forward_args, feature_mask,
                perturbations_per_eval, show_progress: as for :class:`FeatureAblation`
                (feature ids >= 0; ids ``0..max id`` are the interpretable features).
            n_samples: samples per explained example (>= 1).
            return_input_shape: True: coefficients spread over the elements of each group,
                shaped like ``inputs``; False: a tensor (N, num_interp_features).
        """
        return self._attribute_lime(inputs, baselines, target, additional_forward_args,
                                    feature_mask, n_samples, perturbations_per_eval,
                                    return_input_shape, show_progress)

    def _attribute_lime(self, inputs: Any, baselines: Any, target: Any,
                        additional_forward_args: Any, feature_mask: Any, n_samples: int,
                        perturbations_per_eval: int, return_input_shape: bool,
                        show_progress: bool) -> TensorOrTupleOfTensors:
        n_samples = check_int("n_samples", n_samples, minimum=1)
        check_bool("return_input_shape", return_input_shape)
        prepared = prepare_perturbation(self.forward_func, inputs, baselines, target,
                                        additional_forward_args, feature_mask, show_progress,
                                        allow_negative_ids=False)
        call, masks = prepared.call, prepared.masks
        raw_baselines = format_baselines(baselines, call.inputs)
        with torch.no_grad(), progress_bar(show_progress, progress_title(self)):
            plan = plan_evaluation(prepared.evaluate, call.inputs, n_samples,
                                   perturbations_per_eval, self.forward_func)
            per_example = call.num_examples > 1 and plan.per_example
            if not per_example and masks.per_example:
                raise ValueError(
                    "`feature_mask` must have first dimension 1 when the model returns one "
                    "value for the whole batch (one surrogate explains the batch); got "
                    f"{[tuple(m.shape) for m in masks.masks]}.")
            examples = list(range(call.num_examples)) if per_example else [None]
            if per_example and not own_surrogate(self.interpretable_model):
                coefficients = [self._fit_alone(prepared, raw_baselines, r, n_samples,
                                                perturbations_per_eval) for r in examples]
            else:
                sample_sets = []
                for r in examples:
                    sample_sets.append(self._samples(call.inputs, call.was_tuple,
                                                     prepared.baselines, raw_baselines, masks, r,
                                                     n_samples))
                    if own_surrogate(self.interpretable_model):
                        draw_like_captum_fit(sample_sets[-1].interpretable.shape[1])
                outputs = evaluate_samples(prepared.evaluate, plan, sample_sets,
                                           examples if per_example else None)
                coefficients = [fit_surrogate(self.interpretable_model, s, y).reshape(-1)
                                for s, y in zip(sample_sets, outputs)]
        if not return_input_shape:
            # Per-example masks may give examples different feature counts: zero-padded to
            # the largest, as Captum does.
            width = max(c.numel() for c in coefficients)
            return torch.stack([F.pad(c, (0, width - c.numel())) for c in coefficients])
        attributions = []
        for i, x in enumerate(call.inputs):
            rows = []
            for r, c in zip(examples, coefficients):
                ids = masks.masks[i] if r is None or masks.masks[i].shape[0] == 1 else (
                    masks.masks[i][r:r + 1])
                rows.append(spread_to_elements(c.reshape(1, -1), ids, x.shape))
            attributions.append(torch.cat(rows))
        return restore_format(tuple(attributions), call.was_tuple)

    def _fit_alone(self, prepared: Any, raw_baselines: Tuple[Any, ...], example: int,
                   n_samples: int, perturbations_per_eval: int) -> Tensor:
        """Sample, evaluate and fit example ``example`` on its own: Captum's order of
        operations, kept for surrogates of unknown kind (their fit may draw random numbers,
        e.g. by iterating a DataLoader, between the examples' samples)."""
        call = prepared.call
        n = call.num_examples
        values = tuple(x[example:example + 1] for x in call.inputs)
        evaluate = input_evaluator(self.forward_func, call.target.slice(example, example + 1),
                                   slice_additional_forward_args(call.args, example,
                                                                 example + 1, n))
        samples = self._samples(call.inputs, call.was_tuple, prepared.baselines, raw_baselines,
                                prepared.masks, example, n_samples)
        plan = plan_evaluation(evaluate, values, n_samples, perturbations_per_eval,
                               self.forward_func)
        (outputs,) = evaluate_samples(evaluate, plan, [samples])
        return fit_surrogate(self.interpretable_model, samples, outputs).reshape(-1)

    def _samples(self, inputs: Tuple[Tensor, ...], was_tuple: bool,
                 baselines: Tuple[Tensor, ...], raw_baselines: Tuple[Any, ...],
                 masks: FeatureMasks, example: Optional[int], n_samples: int) -> SampleSet:
        """The samples of one surrogate (example ``example``, or the whole batch for None)."""
        def rows_of(t: Tensor) -> Tensor:
            return t if example is None or t.shape[0] == 1 else t[example:example + 1]

        values = tuple(rows_of(x) for x in inputs)
        feature_masks = tuple(rows_of(m) for m in masks.masks)
        expanded = tuple(rows_of(b) for b in baselines)
        kwargs = {
            "baselines": tuple(b if not isinstance(b, Tensor) else rows_of(b)
                               for b in raw_baselines),
            "feature_mask": feature_masks,
            # An empty input (no elements) holds no feature ids.
            "num_interp_features": max((int(m.max()) for m in feature_masks if m.numel()),
                                       default=-1) + 1,
        }
        original = values if was_tuple else values[0]
        if self._default_sampling():
            return self._default_samples(values, expanded, feature_masks, kwargs, n_samples)
        return draw_samples(self.perturb_func, self.similarity_func, original, n_samples, kwargs,
                            True, self.from_interp_rep_transform, None)

    def _default_sampling(self) -> bool:
        return (self.perturb_func is default_perturb_func
                and getattr(self.similarity_func, "distance_mode", None) is not None
                and self.from_interp_rep_transform is default_from_interp_rep_transform)

    def _interpretable_samples(self, values: Tuple[Tensor, ...], kwargs: dict,
                               n_samples: int) -> Tensor:
        """(S, M) binary samples, drawn one by one as ``perturb_func`` would be called."""
        return torch.cat([default_perturb_func(values, **kwargs) for _ in range(n_samples)])

    def _sample_weights(self, values: Tuple[Tensor, ...], rows: Tuple[Tensor, ...],
                        interpretable: Tensor) -> Tensor:
        """The default exponential kernel, for all samples at once."""
        count = interpretable.shape[0]
        original = _floating(torch.cat([v.reshape(1, -1) for v in values], 1))
        perturbed = _floating(torch.cat([r.reshape(count, -1) for r in rows], 1))
        if self.similarity_func.distance_mode == "cosine":
            distance = 1 - F.cosine_similarity(original, perturbed, dim=1).double()
        else:
            distance = torch.norm(perturbed - original, dim=1).double()
        width = self.similarity_func.kernel_width
        return torch.exp(-(distance ** 2) / (2 * width ** 2))

    def _default_samples(self, values: Tuple[Tensor, ...], baselines: Tuple[Tensor, ...],
                         feature_masks: Tuple[Tensor, ...], kwargs: dict,
                         n_samples: int) -> SampleSet:
        interpretable = self._interpretable_samples(values, kwargs, n_samples)
        device = values[0].device
        present = interpretable.to(device).bool()

        def rows(start: int, stop: int) -> Tuple[Tensor, ...]:
            return coalition_rows(values, baselines, feature_masks, present[start:stop])

        weights = self._sample_weights(values, rows(0, n_samples), interpretable)
        return SampleSet(interpretable.float(), weights, rows)

