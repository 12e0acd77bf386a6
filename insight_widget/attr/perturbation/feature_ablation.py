"""Feature Ablation: the output change when a feature group is replaced by its baseline."""

from __future__ import annotations

from typing import Any

import torch

from .._utils.inputs import restore_format
from .._utils.perturbation import ablation_attributions, plan_evaluation
from .._utils.progress import progress_bar
from ..base import PerturbationAttribution, TensorOrTupleOfTensors
from ._common import finished_future, prepare_perturbation, progress_title


class FeatureAblation(PerturbationAttribution):
    r"""Ablation: each feature group g is replaced by its baseline, and every element of g gets

    .. math:: a_e = F(x) - F(x_{[g \leftarrow x']}),\quad g \ni e.

    For a linear model ``w.x + b`` this is ``w_e (x_e - x'_e)`` per element. Groups come from
    ``feature_mask`` (default: every scalar alone); the same id in several inputs is one group.

    Batching differs from Captum on purpose (results do not): with ``perturbations_per_eval``
    left at 1, several ablated copies share one forward pass, as many as run fastest per copy
    within the memory budget (one per pass when the model aggregates the batch or stacking
    could change results); a
    value > 1 means exactly that many copies per pass, as in Captum. Runs under no_grad.

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
        perturbations_per_eval: int = 1,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> TensorOrTupleOfTensors:
        """Ablation attributions.

        Args:
            inputs: tensor or tuple of tensors, dim 0 = N examples (any dtype; token ids work
                with an integer baseline).
            baselines: the value an ablated element takes: None (0), a number, a tensor shaped
                like the input or like one example, or a tuple of those (one per input).
            target: output index per example (int, tuple, tensor, list).
            additional_forward_args: extra model arguments (tensors repeated per copy).
            feature_mask: integer tensor (or tuple, one per input) grouping elements; first
                dimension 1 (all examples) or N (per example); broadcastable to the input.
            perturbations_per_eval: copies per forward pass; 1 = sized by the engine within
                the memory budget (see the class docstring).
            show_progress: show a tqdm progress bar (Captum's title and format).

        Returns:
            Attributions shaped like ``inputs`` (dtype of the model output). When the model
            returns R values that are not one per example (an aggregated output), each tensor
            has shape ``(R, *input.shape[1:])``.
        """
        return self._attribute(inputs, baselines, target, additional_forward_args, feature_mask,
                               perturbations_per_eval, show_progress)

    def _attribute(self, inputs: Any, baselines: Any, target: Any, additional_forward_args: Any,
                   feature_mask: Any, perturbations_per_eval: int, show_progress: bool,
                   futures: bool = False) -> TensorOrTupleOfTensors:
        forward_func = self.forward_func
        prepared = prepare_perturbation(forward_func, inputs, baselines, target,
                                        additional_forward_args, feature_mask, show_progress,
                                        futures=futures)
        call, masks = prepared.call, prepared.masks
        with torch.no_grad(), progress_bar(show_progress, progress_title(self)):
            plan = plan_evaluation(prepared.evaluate, call.inputs, masks.n_groups,
                                   perturbations_per_eval, forward_func)
            attributions = ablation_attributions(prepared.evaluate, call.inputs,
                                                 prepared.baselines, masks, plan)
        return restore_format(attributions, call.was_tuple)

    def attribute_future(
        self,
        inputs: TensorOrTupleOfTensors,
        baselines: Any = None,
        target: Any = None,
        additional_forward_args: Any = None,
        feature_mask: Any = None,
        perturbations_per_eval: int = 1,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> torch.futures.Future:
        """:meth:`attribute` for a ``forward_func`` that returns a ``torch.futures.Future`` of
        its output (e.g. a remote model); returns a ``torch.Future`` of the attributions.

        Every perturbed evaluation is started before any is waited for, so the model can work
        on all of them at once; the call returns when their outputs are in (the unperturbed
        output is awaited first: it sizes the evaluation). A ``forward_func`` returning
        anything but a Future raises ``TypeError`` (as ``attribute`` does for one that does).
        """
        return finished_future(self._attribute(
            inputs, baselines, target, additional_forward_args, feature_mask,
            perturbations_per_eval, show_progress, futures=True))
