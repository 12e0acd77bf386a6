"""Perturbation attributions of a metric computed over a whole DataLoader."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .._utils.batching import ChunkPlanner, row_bytes
from .._utils.feature_mask import format_feature_mask
from .._utils.forward import as_output_tensor
from .._utils.inputs import expand_baselines, format_baselines
from .._utils.perturbation import model_behind, stacking_is_safe
from .._utils.validation import check_bool, check_int, describe
from ..base import Attribution, PerturbationAttribution
from ._common import perturbed_dtype
from .feature_ablation import FeatureAblation
from .feature_permutation import FeaturePermutation
from .kernel_shap import KernelShap
from .lime import Lime
from .occlusion import Occlusion
from .shapley_value_sampling import ShapleyValueSampling

# Roles of the elements a DataLoader yields (Captum's numbering, checked by experiment).
ATTRIBUTED, FORWARDED, EXCLUDED = 0, 1, 2
SUPPORTED_METHODS = (FeatureAblation, FeaturePermutation, Occlusion, ShapleyValueSampling, Lime)


def _own_random_stream() -> Any:
    """Traverse the DataLoader without touching the global random stream.

    Iterating a DataLoader draws from the global generator (worker seeds, shuffling); inside
    this block those draws do not advance it, so the wrapped method's own draws (orders,
    samples, permutations) do not depend on how many traversals the batching needs, and every
    traversal of a shuffling DataLoader sees the same order.
    """
    return torch.random.fork_rng(devices=[])


def _concatenate(accum: Optional[Tensor], output: Tensor, _inputs: Any) -> Tensor:
    """Default ``reduce``: the outputs of all batches, concatenated along dim 0."""
    output = output.reshape(1) if output.dim() == 0 else output
    return output if accum is None else torch.cat([accum, output])


class _DatasetMetric:
    """The metric over the DataLoader as a function of *presence* rows.

    The wrapped method explains "inputs" of ones (one example, shaped like one example of
    each attributed element) against a baseline of zeros, so every perturbed copy it builds
    is a 0/1 presence pattern: 1 keeps the data, 0 replaces it (by the baseline, or by
    ``perm_func`` for permutation). Called with R copies, it traverses the DataLoader once,
    evaluates all copies on every batch (stacked into one forward when that cannot change
    results) and returns the R metrics stacked, shape (R, *metric.shape).
    """

    def __init__(self, forward_func: Callable[..., Any], dataloader: Any, roles: Tuple[int, ...],
                 baselines: Tuple[Any, ...], reduce: Callable[..., Any],
                 to_metric: Optional[Callable[..., Any]],
                 permute: Optional[Callable[[Tensor, Tensor], Tensor]]) -> None:
        self.forward_func = forward_func
        self.dataloader = dataloader
        self.roles = roles
        self.baselines = baselines
        self.reduce = reduce
        self.to_metric = to_metric
        self.permute = permute
        self.stacks_rows_safely = True  # each copy's traversal is independent of the others
        self.model = model_behind(forward_func)
        self._stack = stacking_is_safe(forward_func)

    def __call__(self, *presence: Tensor) -> Tensor:
        copies = presence[0].shape[0]
        accumulated: List[Any] = [None] * copies
        with _own_random_stream():
            for batch in self.dataloader:
                batch = batch if isinstance(batch, (tuple, list)) else (batch,)
                for j, output in self._outputs(batch, presence):
                    accumulated[j] = self.reduce(accumulated[j], output, batch)
        metrics = [self.to_metric(a) if self.to_metric is not None else a for a in accumulated]
        return torch.stack([as_output_tensor(m) for m in metrics])

    def _perturbed(self, batch: Sequence[Any], presence: Sequence[Tensor], copy: int
                   ) -> List[Any]:
        arguments, attributed = [], 0
        for element, role in zip(batch, self.roles):
            if role == EXCLUDED:
                continue
            if role == ATTRIBUTED:
                absent = presence[attributed][copy:copy + 1] == 0
                if self.permute is not None:
                    element = self.permute(element, absent)
                else:
                    baseline = self.baselines[attributed]
                    dtype = perturbed_dtype(element, baseline)
                    baseline = (baseline.to(dtype) if isinstance(baseline, Tensor)
                                else torch.tensor(baseline or 0, dtype=dtype))
                    element = torch.where(absent, baseline.to(element.device), element)
                attributed += 1
            arguments.append(element)
        return arguments

    def _outputs(self, batch: Sequence[Any], presence: Sequence[Tensor]):
        copies = presence[0].shape[0]
        if not self._stack or copies == 1:
            for j in range(copies):
                yield j, as_output_tensor(self.forward_func(*self._perturbed(batch, presence, j)))
            return
        size = len(batch[self.roles.index(ATTRIBUTED)])
        tensors = tuple(e for e, r in zip(batch, self.roles) if r != EXCLUDED
                        and isinstance(e, Tensor) and e.dim() > 0)
        planner = ChunkPlanner(copies, size, input_row_bytes=row_bytes(tensors))
        for start, stop in planner:
            per_copy = [self._perturbed(batch, presence, j) for j in range(start, stop)]
            stacked = [torch.cat([c[k] for c in per_copy]) if isinstance(per_copy[0][k], Tensor)
                       and per_copy[0][k].dim() > 0 else per_copy[0][k]
                       for k in range(len(per_copy[0]))]
            output = as_output_tensor(self.forward_func(*stacked))
            for j in range(start, stop):
                yield j, output[(j - start) * size:(j - start + 1) * size]


class DataLoaderAttribution(Attribution):
    r"""Attribute a metric computed over a whole DataLoader to the features of its inputs.

    Each perturbation (an ablated feature group, a coalition, a LIME sample, an occluding
    window, a permuted group) is applied to every batch the DataLoader yields; the model's
    outputs are accumulated by ``reduce`` and turned into the metric by ``to_metric``; the
    wrapped method's attribution of that metric is returned. Works with FeatureAblation (as
    Captum), and also FeaturePermutation (groups permuted within each batch), Occlusion,
    ShapleyValueSampling, ShapleyValues, Lime and KernelShap (Captum supports only
    FeatureAblation). Arguments of the wrapped method that DataLoaderAttribution does not
    have (``n_samples``, ``sliding_window_shapes``, ``strides``) are passed as keyword
    arguments.

    Traversals of the DataLoader do not advance the global random generator (see
    ``_own_random_stream``), so seeded sampled methods give the same numbers for any
    ``perturbations_per_pass``.

    ``perturbations_per_pass`` keeps Captum's meaning (perturbations per traversal of the
    DataLoader); left at 1, several perturbations share a traversal as the memory budget
    allows (results do not change unless the DataLoader itself is random, e.g. shuffles into
    an order-dependent ``reduce``). Within a traversal, the copies of a batch share one
    forward pass when that cannot change results.

    Args:
        attr_method: an instance of one of the methods above.
    """

    def __init__(self, attr_method: Attribution) -> None:
        if not isinstance(attr_method, SUPPORTED_METHODS):
            raise TypeError(
                "`attr_method` must be a perturbation method instance (FeatureAblation, "
                "FeaturePermutation, Occlusion, ShapleyValueSampling, ShapleyValues, Lime or "
                f"KernelShap); got {describe(attr_method)}."
            )
        super().__init__(attr_method.forward_func)
        self.attr_method = attr_method

    def attribute(
        self,
        dataloader: torch.utils.data.DataLoader,
        input_roles: Optional[Tuple[int, ...]] = None,
        baselines: Any = None,
        feature_mask: Any = None,
        reduce: Optional[Callable[..., Any]] = None,
        to_metric: Optional[Callable[..., Any]] = None,
        perturbations_per_pass: int = 1,
        show_progress: bool = False,
        return_input_shape: bool = True,
        **kwargs: Any,
    ) -> Tuple[Tensor, ...]:
        """Attributions of the DataLoader metric.

        Args:
            dataloader: yields tuples (or single tensors) of the same structure every batch.
            input_roles: per element of a batch: 0 = passed to the model and attributed,
                1 = passed to the model, not attributed, 2 = not passed (e.g. labels for
                ``reduce``). Default: all 0.
            baselines: per attributed element: a number or a tensor of one example (first
                dimension 1); default 0.
            feature_mask: per attributed element, a mask with first dimension 1.
            reduce: ``reduce(accum, output, batch) -> accum`` (default: concatenate outputs).
            to_metric: ``to_metric(accum) -> Tensor`` (default: the accumulated value).
            perturbations_per_pass: perturbations per traversal (1 = as memory allows).
            show_progress: progress bar on stderr.
            return_input_shape: True: a tuple with one tensor per attributed element, shaped
                ``(R, *element.shape[1:])`` for a metric of R values; False: one tensor
                ``(R, num_features)`` of the per-feature values.
            **kwargs: further arguments of the wrapped method's ``attribute``.

        Returns:
            See ``return_input_shape``.
        """
        check_bool("return_input_shape", return_input_shape)
        check_int("perturbations_per_pass", perturbations_per_pass, minimum=1)
        with _own_random_stream():
            first = next(iter(dataloader), None)
        if first is None:
            raise ValueError("`dataloader` yielded no batch; there is nothing to attribute.")
        first = first if isinstance(first, (tuple, list)) else (first,)
        roles = self._roles(input_roles, len(first))
        attributed = [e for e, r in zip(first, roles) if r == ATTRIBUTED]
        if not all(isinstance(e, Tensor) and e.dim() > 0 for e in attributed):
            raise TypeError("elements of role 0 (attributed) must be tensors with a batch "
                            f"dimension; got {[describe(e) for e in attributed]}.")
        presence = tuple(torch.ones(1, *e.shape[1:], device=e.device) for e in attributed)
        example = tuple(e[:1] for e in attributed)
        formatted = format_baselines(baselines, example)
        # None stays None per element: the default baseline keeps each element's dtype.
        expanded = (None,) * len(example) if baselines is None else tuple(
            b if not isinstance(b, Tensor) else expand_baselines((b,), (x,))[0]
            for b, x in zip(formatted, example))
        masks = format_feature_mask(feature_mask, presence)
        if masks.per_example:
            raise ValueError("`feature_mask` must have first dimension 1 (one grouping for the "
                             f"whole DataLoader); got {[tuple(m.shape) for m in masks.masks]}.")
        method = self.attr_method
        permute = method.perm_func if isinstance(method, FeaturePermutation) else None
        metric = _DatasetMetric(self.forward_func, dataloader, roles, expanded,
                                reduce or _concatenate, to_metric, permute)
        explainer = self._explainer(method, metric)
        call = dict(kwargs, perturbations_per_eval=perturbations_per_pass,
                    show_progress=show_progress)
        if not isinstance(method, Occlusion):
            call["feature_mask"] = masks.masks
        if isinstance(method, Lime):
            call["return_input_shape"] = return_input_shape
        if isinstance(method, Occlusion) and not return_input_shape:
            raise ValueError("`return_input_shape`=False needs feature groups; Occlusion's "
                             "windows overlap. Use return_input_shape=True.")
        attributions = explainer.attribute(presence, baselines=0, **call)
        if return_input_shape or isinstance(method, Lime):
            return attributions
        return _per_feature(attributions, masks.masks)

    @staticmethod
    def _roles(input_roles: Any, count: int) -> Tuple[int, ...]:
        if input_roles is None:
            return (ATTRIBUTED,) * count
        if (not isinstance(input_roles, (tuple, list)) or len(input_roles) != count
                or any(r not in (ATTRIBUTED, FORWARDED, EXCLUDED) for r in input_roles)):
            raise ValueError(f"`input_roles` must hold one role (0, 1 or 2) per element of a "
                             f"batch ({count} elements); got {describe(input_roles)}.")
        if ATTRIBUTED not in input_roles:
            raise ValueError("`input_roles` must mark at least one element with role 0 "
                             "(attributed).")
        return tuple(input_roles)

    @staticmethod
    def _explainer(method: PerturbationAttribution, metric: _DatasetMetric) -> Any:
        """The wrapped method applied to the metric (permutation is ablation of presence)."""
        if isinstance(method, FeaturePermutation):
            return FeatureAblation(metric)
        if isinstance(method, Lime) and not isinstance(method, KernelShap):
            return Lime(metric, method.interpretable_model, method.similarity_func,
                        method.perturb_func)
        return type(method)(metric)


def _per_feature(attributions: Sequence[Tensor], masks: Sequence[Tensor]) -> Tensor:
    """(R, G) values of the G feature ids (ascending) from per-element attributions."""
    ids = torch.cat([m.reshape(-1) for m in masks])
    values = torch.cat([a.reshape(a.shape[0], -1) for a in attributions], 1)
    unique, inverse = torch.unique(ids, return_inverse=True)
    first = torch.full((len(unique),), len(ids), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(len(ids)), reduce="amin")
    return values[:, first]
