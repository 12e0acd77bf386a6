"""The engine's shared core: the public machinery other packages build on.

``insight_widget.attr`` exports Captum's names; this module exports the steps every
attribution shares, for the packages around the engine (``insight_widget.metrics``, the
visualiser in ``insight_widget.widget``, and any new method family or modality). Import these
names from here, never from ``insight_widget.attr._utils``: ``_utils`` is the engine's own
layout and may move, this list is the contract. Each name is documented where it is defined.

- validation: ``describe`` a value for an error message; ``check_*`` an argument, raising
  ``TypeError``/``ValueError`` that name it, with expected vs got.
- formatting: inputs, baselines, additional forward arguments, targets and feature masks in
  Captum's accepted forms -> one canonical form (tuples, batch-first), and back
  (``restore_format``); ``prepare_call`` does all of it for one ``attribute`` call.
- forward: ``run_forward`` (the model on formatted inputs, target selected),
  ``forward_arguments`` (inputs + additional arguments in call order), ``as_output_tensor``
  (a model's output as one tensor), ``module_of`` (the ``nn.Module`` behind a forward
  function, if any), ``rows_are_independent`` (stacking examples cannot change an output).
- batching: the memory budget and the chunk planner that keeps every batched evaluation
  under it; ``ActivationMeter`` measures a layer's activation size.
- perturbation: the planner and evaluator of perturbed copies (used by the perturbation
  family and by the metrics).
- hooks: ``HookSet`` removes every hook and restores every module attribute on exit;
  ``resolve_modules`` turns layer names/modules into modules of the model.
- progress: ``report_progress`` from long loops; ``attribution_progress`` installs a
  callback that may cancel (``AttributionCancelled``).
"""

from ._utils.batching import (
    ActivationMeter,
    ChunkPlanner,
    get_memory_budget,
    items_per_chunk,
    memory_budget,
    row_bytes,
    set_memory_budget,
)
from ._utils.feature_mask import format_feature_mask
from ._utils.forward import as_output_tensor, module_of, rows_are_independent, run_forward
from ._utils.hooks import HookSet, resolve_modules
from ._utils.inputs import (
    expand_additional_forward_args,
    expand_baselines,
    format_additional_forward_args,
    format_baselines,
    format_inputs,
    forward_arguments,
    restore_format,
)
from ._utils.perturbation import (
    EvaluationPlan,
    RowEvaluator,
    evaluate_perturbations,
    input_evaluator,
    plan_evaluation,
)
from ._utils.prepare import PreparedCall, prepare_call
from ._utils.progress import AttributionCancelled, attribution_progress, report_progress
from ._utils.target import Target, format_target
from ._utils.validation import (
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_module,
    check_number,
    check_optional_int,
    describe,
    is_number,
)

__all__ = [
    "ActivationMeter",
    "AttributionCancelled",
    "ChunkPlanner",
    "EvaluationPlan",
    "HookSet",
    "PreparedCall",
    "RowEvaluator",
    "Target",
    "as_output_tensor",
    "attribution_progress",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_int",
    "check_module",
    "check_number",
    "check_optional_int",
    "describe",
    "evaluate_perturbations",
    "expand_additional_forward_args",
    "expand_baselines",
    "format_additional_forward_args",
    "format_baselines",
    "format_feature_mask",
    "format_inputs",
    "format_target",
    "forward_arguments",
    "get_memory_budget",
    "input_evaluator",
    "is_number",
    "items_per_chunk",
    "memory_budget",
    "module_of",
    "plan_evaluation",
    "prepare_call",
    "report_progress",
    "resolve_modules",
    "restore_format",
    "row_bytes",
    "rows_are_independent",
    "run_forward",
    "set_memory_budget",
]
