"""Perturbation family: attributions from the change of the output under perturbed inputs."""

from .dataloader_attribution import DataLoaderAttribution
from .feature_ablation import FeatureAblation
from .feature_permutation import FeaturePermutation
from .kernel_shap import KernelShap
from .lime import Lime
from .lime_base import LimeBase
from .occlusion import Occlusion
from .shapley_value_sampling import ShapleyValueSampling
from .shapley_values import ShapleyValues

__all__ = [
    "DataLoaderAttribution",
    "FeatureAblation",
    "FeaturePermutation",
    "KernelShap",
    "Lime",
    "LimeBase",
    "Occlusion",
    "ShapleyValueSampling",
    "ShapleyValues",
]
