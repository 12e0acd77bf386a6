"""Layer-wise relevance propagation: the rules and the LRP algorithm.

Unlike Captum, which keeps them in a private module, the rules are public here:
``from insight_widget.attr import EpsilonRule, GammaRule``.
"""

from .lrp import LRP
from .rules import (
    Alpha1_Beta0_Rule,
    EpsilonRule,
    GammaRule,
    IdentityRule,
    PropagationRule,
)

__all__ = [
    "LRP",
    "Alpha1_Beta0_Rule",
    "EpsilonRule",
    "GammaRule",
    "IdentityRule",
    "PropagationRule",
]
