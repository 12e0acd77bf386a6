"""Perturbation family: attributions from the change of the output under perturbed inputs."""

from .feature_ablation import FeatureAblation
from .feature_permutation import FeaturePermutation
from .occlusion import Occlusion
from .shapley_value_sampling import ShapleyValueSampling
from .shapley_values import ShapleyValues

__all__ = [
    "FeatureAblation",
    "FeaturePermutation",
    "Occlusion",
    "ShapleyValueSampling",
    "ShapleyValues",
]
