"""Layer family: attributions to the neurons (activations) of a layer."""

from .grad_cam import LayerGradCam
from .internal_influence import InternalInfluence
from .layer_activation import LayerActivation
from .layer_conductance import LayerConductance
from .layer_feature_ablation import LayerFeatureAblation
from .layer_feature_permutation import LayerFeaturePermutation
from .layer_gradient_x_activation import LayerGradientXActivation
from .layer_integrated_gradients import LayerIntegratedGradients
from .layer_lrp import LayerLRP

__all__ = [
    "InternalInfluence",
    "LayerActivation",
    "LayerConductance",
    "LayerFeatureAblation",
    "LayerFeaturePermutation",
    "LayerGradCam",
    "LayerGradientXActivation",
    "LayerIntegratedGradients",
    "LayerLRP",
]
