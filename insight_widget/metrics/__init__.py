"""insight_widget.metrics: evaluation metrics for attributions.

Captum-compatible (same signatures, defaults and numbers as ``captum.metrics`` 0.9.0):
:func:`infidelity` (+ :func:`infidelity_perturb_func_decorator`) and :func:`sensitivity_max`
(+ :func:`default_perturb_func`).

Beyond Captum, batched and evaluated without gradients, one value (or curve) per example:

* :func:`deletion`, :func:`insertion` -> :class:`CurveResult` (RISE curves and AUC);
* :func:`faithfulness_correlation` -> :class:`FaithfulnessResult`;
* :func:`monotonicity` -> :class:`MonotonicityResult`;
* :func:`model_parameter_randomization` -> :class:`RandomizationResult` (cascading sanity
  check with Spearman rank correlation);
* :func:`sparseness` (Gini index) and :func:`complexity` (entropy) -> Tensor (N,).
"""

from ._curves import CurveResult
from .complexity import complexity
from .deletion import deletion
from .faithfulness import FaithfulnessResult, faithfulness_correlation
from .infidelity import infidelity, infidelity_perturb_func_decorator
from .insertion import insertion
from .monotonicity import MonotonicityResult, monotonicity
from .randomization import RandomizationResult, model_parameter_randomization
from .sensitivity import default_perturb_func, sensitivity_max
from .sparseness import sparseness

__all__ = [
    "CurveResult",
    "FaithfulnessResult",
    "MonotonicityResult",
    "RandomizationResult",
    "complexity",
    "default_perturb_func",
    "deletion",
    "faithfulness_correlation",
    "infidelity",
    "infidelity_perturb_func_decorator",
    "insertion",
    "model_parameter_randomization",
    "monotonicity",
    "sensitivity_max",
    "sparseness",
]
