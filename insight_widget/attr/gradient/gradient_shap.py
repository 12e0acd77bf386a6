"""GradientShap (Lundberg & Lee, 2017): expected gradients over random baselines and paths."""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple, Union

import torch
from torch import Tensor

from .._utils.batching import ChunkPlanner, row_bytes
from .._utils.forward import input_gradients
from .._utils.inputs import format_baseline_distribution, restore_format
from .._utils.path import times_difference
from .._utils.prepare import prepare_call
from .._utils.progress import report_progress
from .._utils.sampling import check_stdevs, gradient_shap_rows, sum_over_samples
from .._utils.validation import check_bool, check_int, check_optional_int
from ..base import (
    GradientAttribution,
    MultipliesByInputsOption,
    TensorOrTupleOfTensors,
    convergence_delta,
)


class GradientShap(MultipliesByInputsOption, GradientAttribution):
    r"""SHAP values approximated by expected gradients.

    For each example, ``n_samples`` rows are drawn: the input plus Gaussian noise
    :math:`\tilde x = x + \epsilon,\ \epsilon \sim N(0, \sigma^2)`, a reference :math:`x'`
    drawn uniformly from ``baselines`` and a point :math:`p = x' + c (\tilde x - x')` with
    :math:`c \sim U[0, 1)`. The attribution is the sample mean of
    :math:`\nabla F(p) \odot (\tilde x - x')` (of :math:`\nabla F(p)` with
    ``multiply_by_inputs=False``), which approximates Integrated Gradients averaged over the
    baseline distribution.

    Randomness follows Captum 0.9 draw for draw (noise from torch's global generator,
    reference indices and coefficients from NumPy's; see ``_utils.sampling``), so seeding
    ``torch.manual_seed`` and ``np.random.seed`` reproduces a run and Captum's numbers.

    **Deliberate extension** (captum#1350): ``attribute`` takes an optional
    ``internal_batch_size`` (last parameter) that bounds the rows per forward/backward pass;
    the random draws do not depend on it, so the result equals the unchunked one (for models
    whose rows are independent, e.g. in eval mode). Without it, the rows run in one pass
    unless the memory budget (``insight_widget.attr.set_memory_budget``) requires chunks.

    Args:
        forward_func: the model or any callable returning the output tensor.
        multiply_by_inputs: multiply gradients by (noisy input - reference) (default) or not.
    """

    def __init__(self, forward_func: Callable[..., Any], multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func)
        self._set_multiply_by_inputs(multiply_by_inputs)

    def has_convergence_delta(self) -> bool:
        return True

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any,
        n_samples: int = 5,
        stdevs: Union[float, Tuple[float, ...]] = 0.0,
        target: Any = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        internal_batch_size: Optional[int] = None,
    ) -> Union[TensorOrTupleOfTensors, Tuple[TensorOrTupleOfTensors, Tensor]]:
        """GradientShap attributions of the targeted output.

        Args:
            inputs: tensor or tuple of tensors, dim 0 = N examples.
            baselines: the reference distribution: a tensor (B, ...) per input whose examples
                are shaped like one input example, a tuple of those, or a callable returning
                them (called with no argument or with ``inputs``).
            n_samples: random rows per example (default 5).
            stdevs: standard deviation of the input noise, one number or one per input.
            target: output index per example (int, tuple, tensor, list).
            additional_forward_args: extra model arguments (tensors repeated per sample).
            return_convergence_delta: also return, per row, sum(attributions) -
                (F(noisy input) - F(reference)); shape (N*n_samples,), example-major.
            internal_batch_size: rows per forward/backward pass (extension, see class doc).

        Returns:
            Attributions shaped like ``inputs``; with the delta, ``(attributions, delta)``.
        """
        call = prepare_call(inputs, target, additional_forward_args,
                            gradients_of="GradientShap")
        check_bool("return_convergence_delta", return_convergence_delta)
        n_samples = check_int("n_samples", n_samples, minimum=1)
        stdevs_ = check_stdevs(stdevs, len(call.inputs))
        check_optional_int("internal_batch_size", internal_batch_size, minimum=1)
        distribution = format_baseline_distribution(baselines, call.inputs, inputs,
                                                    same_count=False)
        rows = gradient_shap_rows(call.inputs, distribution, n_samples, stdevs_, call.target,
                                  call.args)
        # Per-row attributions are kept and summed per example at the end, in Captum's
        # order (a sum over each example's samples), so long sample runs round alike.
        per_row = [torch.empty_like(x) for x in rows.inputs]
        deltas = []
        planner = ChunkPlanner(rows.rows, 1, internal_batch_size, row_bytes(rows.inputs))
        for start, stop in planner:
            noisy, references, points, target_rows, args_rows = rows.chunk(start, stop)
            with planner.measure(stop - start):
                grads, _ = input_gradients(self.forward_func, points, target_rows, args_rows)
            if self._multiply_by_inputs:
                grads = times_difference(grads, noisy, references)
            for buffer, g in zip(per_row, grads):
                buffer[start:stop] = g
            if return_convergence_delta:
                deltas.append(convergence_delta(self.forward_func, grads, references, noisy,
                                                target_rows, args_rows))
            report_progress(stop, rows.rows)
        attributions = tuple(sum_over_samples(a, call.num_examples) / n_samples for a in per_row)
        result = restore_format(attributions, call.was_tuple)
        if not return_convergence_delta:
            return result
        return result, torch.cat(deltas)

