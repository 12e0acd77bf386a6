"""LIME's general framework (Ribeiro et al., 2016): fit a surrogate on perturbed samples."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from .._utils.inputs import format_inputs
from .._utils.perturbation import (
    EvaluationPlan,
    RowEvaluator,
    evaluate_perturbations,
    input_evaluator,
    plan_evaluation,
)
from .._utils.prepare import prepare_call
from .._utils.progress import progress_bar
from .._utils.validation import check_bool, check_callable, check_int, describe
from ..base import PerturbationAttribution, TensorOrTupleOfTensors
from ._common import progress_title


@dataclass
class SampleSet:
    """The samples of one surrogate fit.

    ``interpretable``: (S, M) float interpretable representations; ``weights``: (S,) sample
    weights; ``rows(start, stop)``: the input-space samples ``start..stop-1`` as stacked
    tuples (each sample shaped like the explained inputs).
    """

    interpretable: Tensor
    weights: Tensor
    rows: Callable[[int, int], Tuple[Tensor, ...]]


def check_interpretable_model(model: Any) -> Any:
    """Raise unless ``model`` has Captum's ``Model`` interface (fit + representation)."""
    if not (callable(getattr(model, "fit", None))
            and callable(getattr(model, "representation", None))):
        raise TypeError(
            "`interpretable_model` must provide fit(train_data: DataLoader) and "
            f"representation() (Captum's Model interface); got {describe(model)}."
        )
    return model


def own_surrogate(model: Any) -> bool:
    """True for our surrogates, which train on tensors directly (no DataLoader)."""
    return callable(getattr(model, "fit_tensors", None))


def draw_like_captum_fit(num_features: int) -> None:
    """Consume the random numbers one fit of Captum's default surrogates draws.

    Measured by experiment: Captum's scikit-learn surrogates iterate a DataLoader once (which
    draws an int64 seed from the global generator) and then build a ``torch.nn.Linear(M, 1)``
    to hold the coefficients (whose initialisation draws M + 1 uniforms). Drawing the same
    numbers where Captum's fit would keeps the following samples (the next example's) and the
    generator's state afterwards identical to Captum's for a given seed.
    """
    torch.empty((), dtype=torch.int64).random_()
    torch.nn.Linear(num_features, 1)


def fit_surrogate(model: Any, samples: SampleSet, outputs: Tensor) -> Tensor:
    """Train ``model`` on the samples and their outputs (S,); return its coefficients (M,)."""
    interpretable = samples.interpretable.float()
    targets = outputs.reshape(-1).float()
    weights = samples.weights.float()
    if own_surrogate(model):
        model.fit_tensors(interpretable, targets, weights)
    else:
        dataset = TensorDataset(interpretable, targets, weights)
        model.fit(DataLoader(dataset, batch_size=len(dataset)))
    return model.representation()


def stacked(samples: Sequence[Tuple[Tensor, ...]]) -> Callable[[int, int], Tuple[Tensor, ...]]:
    """``rows`` for input-space samples held as a list of tuples."""
    def rows(start: int, stop: int) -> Tuple[Tensor, ...]:
        chosen = samples[start:stop]
        return tuple(torch.cat([s[i] for s in chosen]) for i in range(len(chosen[0])))
    return rows


def evaluate_samples(evaluate: RowEvaluator, plan: EvaluationPlan, sample_sets: List[SampleSet],
                     examples: Optional[List[int]] = None) -> List[Tensor]:
    """Outputs (S,) of every sample set, all evaluated together in batches.

    With ``examples`` (per-example mode, one set per example, N sets), copy s stacks sample s
    of every example, so one forward serves all examples; otherwise there is one set and copy s
    is its sample s.
    """
    count = len(sample_sets[0].interpretable)
    if any(len(s.interpretable) != count for s in sample_sets):
        raise ValueError("every example must have the same number of samples.")
    outputs = torch.empty(count, plan.n_out, dtype=plan.output.dtype, device=plan.output.device)

    def build(start: int, stop: int) -> Tuple[Tensor, ...]:
        if examples is None:
            return sample_sets[0].rows(start, stop)
        per_example = [s.rows(start, stop) for s in sample_sets]  # each (k*1, ...)
        return tuple(torch.stack([rows[i] for rows in per_example], 1).reshape(
            -1, *per_example[0][i].shape[1:]) for i in range(len(per_example[0])))

    def consume(start: int, stop: int, values: Tensor) -> None:
        outputs[start:stop] = values.to(outputs.dtype)

    evaluate_perturbations(evaluate, plan, count, build, consume)
    if examples is None:
        if plan.n_out != 1:
            raise ValueError(_one_value_message(plan))
        return [outputs[:, 0]]
    if plan.n_out != len(examples):
        raise ValueError(_one_value_message(plan))
    return [outputs[:, r] for r in examples]


def _one_value_message(plan: EvaluationPlan) -> str:
    return ("the surrogate model needs one output value per example and sample; the targeted "
            f"model output has shape {tuple(plan.output.shape)} for {plan.num_examples} "
            "example(s). Pass `target` to choose one value.")


def draw_samples(
    perturb_func: Callable[..., Any],
    similarity_func: Callable[..., Any],
    original: Any,
    n_samples: int,
    kwargs: dict,
    perturb_interpretable_space: bool,
    from_interp_rep_transform: Optional[Callable[..., Any]],
    to_interp_rep_transform: Optional[Callable[..., Any]],
) -> SampleSet:
    """Draw ``n_samples`` samples with user functions, in Captum's call order: per sample the
    perturbation (``perturb_func`` returns one sample, or a generator of samples), the
    transform to the other space, then the similarity weight."""
    interpretable: List[Tensor] = []
    input_space: List[Tuple[Tensor, ...]] = []
    weights: List[float] = []
    for sample in _sample_stream(perturb_func, original, kwargs, n_samples):
        if perturb_interpretable_space:
            interp = sample
            perturbed = from_interp_rep_transform(sample, original, **kwargs)
        else:
            perturbed = sample
            interp = to_interp_rep_transform(sample, original, **kwargs)
        weight = similarity_func(original, perturbed, interp, **kwargs)
        interpretable.append(torch.as_tensor(interp).reshape(1, -1))
        input_space.append(format_inputs(perturbed, "perturbed input")[0])
        weights.append(float(weight))
    return SampleSet(torch.cat(interpretable).float(), torch.tensor(weights),
                     stacked(input_space))


def _sample_stream(perturb_func: Callable[..., Any], original: Any, kwargs: dict,
                   n_samples: int) -> Iterator[Any]:
    first = perturb_func(original, **kwargs)
    if inspect.isgenerator(first):
        for _ in range(n_samples):
            yield next(first)
        return
    yield first
    for _ in range(n_samples - 1):
        yield perturb_func(original, **kwargs)


class LimeBase(PerturbationAttribution):
    r"""LIME's framework: sample perturbations around the input, weight them by similarity,
    and fit an interpretable surrogate :math:`g` minimising
    :math:`\sum_s \pi(x, z_s) (F(z_s) - g(z'_s))^2 + \Omega(g)` over the samples' interpretable
    representations :math:`z'_s`; returns ``interpretable_model.representation()``.

    The samples' model evaluations are batched (several per forward pass, as in
    :class:`FeatureAblation`), under no_grad.

    Args:
        forward_func: the model or any callable returning the output tensor.
        interpretable_model: surrogate with ``fit(DataLoader)`` and ``representation()``
            (Captum's ``Model`` interface; see ``interpretable_models``).
        similarity_func: ``(original_input, perturbed_input, perturbed_interpretable_input,
            **kwargs) -> weight``.
        perturb_func: ``(original_input, **kwargs) -> sample`` (or a generator of samples).
        perturb_interpretable_space: whether ``perturb_func`` samples interpretable vectors
            (then ``from_interp_rep_transform`` maps them to inputs) or inputs (then
            ``to_interp_rep_transform`` maps them to interpretable vectors).
        from_interp_rep_transform, to_interp_rep_transform: the transforms.
    """

    def __init__(
        self,
        forward_func: Callable[..., Any],
        interpretable_model: Any,
        similarity_func: Callable[..., Any],
        perturb_func: Callable[..., Any],
        perturb_interpretable_space: bool,
        from_interp_rep_transform: Optional[Callable[..., Any]],
        to_interp_rep_transform: Optional[Callable[..., Any]],
    ) -> None:
        super().__init__(forward_func)
        self.interpretable_model = check_interpretable_model(interpretable_model)
        self.similarity_func = check_callable("similarity_func", similarity_func)
        self.perturb_func = check_callable("perturb_func", perturb_func)
        self.perturb_interpretable_space = check_bool("perturb_interpretable_space",
                                                      perturb_interpretable_space)
        needed, name = ((from_interp_rep_transform, "from_interp_rep_transform")
                        if perturb_interpretable_space
                        else (to_interp_rep_transform, "to_interp_rep_transform"))
        check_callable(name, needed)
        self.from_interp_rep_transform = from_interp_rep_transform
        self.to_interp_rep_transform = to_interp_rep_transform

    @property
    def multiplies_by_inputs(self) -> bool:
        return False

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        target: Any = None,
        additional_forward_args: Any = None,
        n_samples: int = 50,
        perturbations_per_eval: int = 1,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> Tensor:
        """Fit the surrogate on ``n_samples`` samples around ``inputs`` and return its
        representation (e.g. the coefficients of a linear surrogate).

        ``inputs`` is explained as a whole: one example, or a batch whose ``forward_func``
        returns one value for the batch. ``kwargs`` go to the sampling, similarity and
        transform functions.
        """
        n_samples = check_int("n_samples", n_samples, minimum=1)
        check_bool("show_progress", show_progress)
        call = prepare_call(inputs, target, additional_forward_args)
        evaluate = input_evaluator(self.forward_func, call.target, call.args)
        with torch.no_grad(), progress_bar(show_progress, progress_title(self)):
            samples = draw_samples(self.perturb_func, self.similarity_func, inputs, n_samples,
                                   kwargs, self.perturb_interpretable_space,
                                   self.from_interp_rep_transform, self.to_interp_rep_transform)
            plan = plan_evaluation(evaluate, call.inputs, n_samples, perturbations_per_eval,
                                   self.forward_func)
            (outputs,) = evaluate_samples(evaluate, plan, [samples])
            if own_surrogate(self.interpretable_model):
                draw_like_captum_fit(samples.interpretable.shape[1])
            return fit_surrogate(self.interpretable_model, samples, outputs)
