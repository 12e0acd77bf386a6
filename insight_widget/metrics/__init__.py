"""insight_widget.metrics: evaluation metrics for attributions.

Captum-compatible: :func:`infidelity` (+ :func:`infidelity_perturb_func_decorator`) and
:func:`sensitivity_max` (+ :func:`default_perturb_func`), same signatures, defaults and
numbers as ``captum.metrics`` 0.9.0.
"""

from .infidelity import infidelity, infidelity_perturb_func_decorator
from .sensitivity import default_perturb_func, sensitivity_max

__all__ = [
    "default_perturb_func",
    "infidelity",
    "infidelity_perturb_func_decorator",
    "sensitivity_max",
]
