"""NoiseTunnel: SmoothGrad, SmoothGrad-squared and VarGrad around any attribution method."""

from __future__ import annotations

from enum import Enum
from typing import Any, List, Optional, Tuple, Union

import torch
from torch import Tensor

from .._utils.inputs import (
    expand_additional_forward_args,
    format_inputs,
    restore_format,
)
from .._utils.progress import progress_span, report_progress
from .._utils.sampling import check_stdevs, draw_reference_indices, noisy_samples
from .._utils.target import format_target
from .._utils.validation import (
    check_bool,
    check_choice,
    check_int,
    check_optional_int,
    describe,
)
from ..base import Attribution


class NoiseTunnelType(Enum):
    smoothgrad = 1
    smoothgrad_sq = 2
    vargrad = 3


SUPPORTED_NOISE_TUNNEL_TYPES = list(NoiseTunnelType.__members__.keys())


class NoiseTunnel(Attribution):
    r"""Averages an attribution method over noisy copies of the inputs.

    Each example x is repeated ``nt_samples`` times with Gaussian noise,
    :math:`x_s = x + \epsilon_s,\ \epsilon_s \sim N(0, \sigma^2)`, the wrapped method
    attributes every noisy row, and the samples :math:`a_s` are combined per example:

    * ``smoothgrad`` (Smilkov et al., 2017): :math:`\frac{1}{S}\sum_s a_s`;
    * ``smoothgrad_sq``: :math:`\frac{1}{S}\sum_s a_s^2`;
    * ``vargrad`` (Adebayo et al., 2018): :math:`\frac{1}{S}\sum_s a_s^2 -
      (\frac{1}{S}\sum_s a_s)^2`.

    Works with any attribution object whose ``attribute(inputs, **kwargs)`` returns one row of
    attributions per input row (primary, layer and neuron methods alike). Samples run in
    batches of ``nt_samples_batch_size`` samples per example; ``target``,
    ``additional_forward_args``, per-example ``baselines`` and ``feature_mask`` rows are
    repeated to follow the noisy rows. The noise is drawn per batch from torch's global
    generator exactly as Captum 0.9 draws it, and references (``draw_baseline_from_distrib``)
    from NumPy's, once for all full batches and once more for a smaller last batch, as Captum
    does; so seeded runs reproduce Captum's numbers (established by experiment, see
    ``_utils.sampling``).

    Args:
        attribution_method: the attribution object to smooth (e.g. ``Saliency(model)``).
    """

    def __init__(self, attribution_method: Attribution) -> None:
        if not callable(getattr(attribution_method, "attribute", None)):
            raise TypeError(
                "`attribution_method` must be an attribution algorithm instance (with an "
                f"`attribute` method), e.g. Saliency(model); got {describe(attribution_method)}."
            )
        self.attribution_method = attribution_method
        super().__init__(getattr(attribution_method, "forward_func", attribution_method.attribute))
        self.is_delta_supported = bool(attribution_method.has_convergence_delta())

    @property
    def multiplies_by_inputs(self) -> bool:
        return self.attribution_method.multiplies_by_inputs

    def has_convergence_delta(self) -> bool:
        return self.is_delta_supported

    def attribute(
        self,
        inputs: Union[Tensor, Tuple[Tensor, ...]],
        nt_type: str = "smoothgrad",
        nt_samples: int = 5,
        nt_samples_batch_size: Optional[int] = None,
        stdevs: Union[float, Tuple[float, ...]] = 1.0,
        draw_baseline_from_distrib: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Smoothed attributions.

        Args:
            inputs: tensor or tuple of tensors, dim 0 = N examples.
            nt_type: "smoothgrad" (default), "smoothgrad_sq" or "vargrad".
            nt_samples: noisy samples per example (default 5).
            nt_samples_batch_size: samples per example evaluated in one call of the wrapped
                method (None = all at once); bounds memory, not the result.
            stdevs: noise standard deviation, one number or one per input (default 1.0).
            draw_baseline_from_distrib: draw one reference per noisy row at random from
                ``baselines`` (a distribution of B examples per input) instead of repeating
                per-example baselines.
            **kwargs: passed to the wrapped method's ``attribute`` (``target``,
                ``additional_forward_args``, ``baselines``, ``return_convergence_delta``, ...).

        Returns:
            The combined attributions in the wrapped method's form; with
            ``return_convergence_delta=True``, ``(attributions, delta)`` where delta holds the
            wrapped method's deltas of all noisy rows, concatenated batch by batch (N *
            nt_samples entries for a method with one delta per row).
        """
        formatted, was_tuple = format_inputs(inputs)
        check_choice("nt_type", nt_type, SUPPORTED_NOISE_TUNNEL_TYPES)
        nt_samples = check_int("nt_samples", nt_samples, minimum=1)
        batch = check_optional_int("nt_samples_batch_size", nt_samples_batch_size, minimum=1)
        batch = nt_samples if batch is None else min(batch, nt_samples)
        stdevs_ = check_stdevs(stdevs, len(formatted))
        check_bool("draw_baseline_from_distrib", draw_baseline_from_distrib)
        with_delta = kwargs.get("return_convergence_delta", False)
        check_bool("return_convergence_delta", with_delta)
        if with_delta and not self.is_delta_supported:
            raise ValueError(
                f"`return_convergence_delta=True` is not supported: "
                f"{type(self.attribution_method).__name__} has no convergence delta."
            )
        if draw_baseline_from_distrib and kwargs.get("baselines") is None:
            raise ValueError(
                "`draw_baseline_from_distrib=True` needs `baselines`: a distribution of "
                "reference examples to draw from; got None."
            )
        n = formatted[0].shape[0]
        target = format_target(kwargs.get("target"), n)
        combiner = _SampleCombiner(nt_type, n)
        deltas: List[Tensor] = []
        expanded_by_size: dict = {}
        done = 0
        while done < nt_samples:
            samples = min(batch, nt_samples - done)
            noisy = noisy_samples(formatted, stdevs_, samples)
            call_kwargs = dict(kwargs)
            if target.rows is not None:
                call_kwargs["target"] = target.repeat_interleave(samples).as_captum_target()
            if kwargs.get("additional_forward_args") is not None:
                call_kwargs["additional_forward_args"] = expand_additional_forward_args(
                    _as_tuple(kwargs["additional_forward_args"]), samples, "repeat_interleave")
            if kwargs.get("feature_mask") is not None:
                call_kwargs["feature_mask"] = _repeated_masks(kwargs["feature_mask"],
                                                              formatted, samples)
            if kwargs.get("baselines") is not None:
                # Captum draws the references once for all full batches (they reuse them) and
                # once more for a smaller last batch; the same draws give the same numbers.
                if samples not in expanded_by_size:
                    expanded_by_size[samples] = (
                        _drawn_baselines(kwargs["baselines"], n * samples)
                        if draw_baseline_from_distrib
                        else _repeated_baselines(kwargs["baselines"], n, samples))
                call_kwargs["baselines"] = expanded_by_size[samples]
            with progress_span(done / nt_samples, (done + samples) / nt_samples):
                result = self.attribution_method.attribute(restore_format(noisy, was_tuple),
                                                           **call_kwargs)
            if with_delta:
                result, delta = result
                deltas.append(delta)
            combiner.add(result, samples)
            done += samples
            report_progress(done, nt_samples)
        attributions = combiner.result(nt_samples)
        return (attributions, torch.cat(deltas)) if with_delta else attributions


def _as_tuple(value: Any) -> Tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


def _repeated_baselines(baselines: Any, n: int, samples: int) -> Any:
    """Per-example baseline tensors (N rows) repeated per sample; others unchanged."""

    def expand(entry: Any) -> Any:
        if isinstance(entry, Tensor) and entry.dim() > 0 and entry.shape[0] == n and n > 1:
            return entry.repeat_interleave(samples, dim=0)
        return entry

    if isinstance(baselines, tuple):
        return tuple(expand(b) for b in baselines)
    return (expand(baselines),)


def _repeated_masks(feature_mask: Any, inputs: Tuple[Tensor, ...], samples: int) -> Any:
    """Per-example feature masks (one row per example of the N-row input, same number of
    dimensions as the input) repeated per sample, as the inputs are; shared masks unchanged."""
    masks = _as_tuple(feature_mask)
    if len(masks) != len(inputs):
        return feature_mask  # the wrapped method reports the mismatch

    def expand(mask: Any, x: Tensor) -> Any:
        if (isinstance(mask, Tensor) and mask.dim() == x.dim() and x.shape[0] > 1
                and mask.shape[0] == x.shape[0]):
            return mask.repeat_interleave(samples, dim=0)
        return mask

    expanded = tuple(expand(m, x) for m, x in zip(masks, inputs))
    return expanded if isinstance(feature_mask, tuple) else expanded[0]


def _drawn_baselines(baselines: Any, rows: int) -> Tuple[Any, ...]:
    """One reference per row drawn from each tensor of the distribution (numbers stay)."""
    entries = _as_tuple(baselines)
    indices = draw_reference_indices(entries, rows)
    return tuple(entry if index is None else entry[index] for entry, index in zip(entries, indices))


class _SampleCombiner:
    """Running per-example sums (and sums of squares) of sampled attributions."""

    def __init__(self, nt_type: str, num_examples: int) -> None:
        self.nt_type = nt_type
        self.n = num_examples
        self.sums: Optional[List[Tensor]] = None
        self.squares: Optional[List[Tensor]] = None
        self.form: Any = None

    def add(self, result: Any, samples: int) -> None:
        parts = self._parts(result)
        per_example = []
        for index, part in enumerate(parts):
            if not isinstance(part, Tensor) or part.dim() == 0 or part.shape[0] != self.n * samples:
                raise ValueError(
                    f"NoiseTunnel: the wrapped method must return one attribution row per noisy "
                    f"input row ({self.n} examples x {samples} samples = {self.n * samples}); "
                    f"attribution {index} is {describe(part)}."
                )
            per_example.append(part.reshape(self.n, samples, *part.shape[1:]))
        if self.nt_type != "smoothgrad_sq":
            sums = [p.sum(1) for p in per_example]
            self.sums = sums if self.sums is None else [a + b for a, b in zip(self.sums, sums)]
        if self.nt_type != "smoothgrad":
            squares = [(p * p).sum(1) for p in per_example]
            self.squares = (squares if self.squares is None
                            else [a + b for a, b in zip(self.squares, squares)])

    def _parts(self, result: Any) -> Tuple[Any, ...]:
        form = "tensor" if isinstance(result, Tensor) else type(result).__name__
        if self.form is None:
            self.form = form
        if isinstance(result, Tensor):
            return (result,)
        if isinstance(result, (tuple, list)):
            return tuple(result)
        raise TypeError(
            "NoiseTunnel: the wrapped method must return a tensor or a tuple/list of tensors; "
            f"got {describe(result)}."
        )

    def result(self, total: int) -> Any:
        if self.nt_type == "smoothgrad":
            combined = [s / total for s in self.sums]
        elif self.nt_type == "smoothgrad_sq":
            combined = [s / total for s in self.squares]
        else:
            combined = [q / total - (s / total) ** 2 for s, q in zip(self.sums, self.squares)]
        if self.form == "tensor":
            return combined[0]
        return list(combined) if self.form == "list" else tuple(combined)


__all__ = ["SUPPORTED_NOISE_TUNNEL_TYPES", "NoiseTunnel", "NoiseTunnelType"]
