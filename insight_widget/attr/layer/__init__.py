"""Layer family: attributions to the neurons (activations) of a layer."""

from .grad_cam import LayerGradCam
from .guided_grad_cam import GuidedGradCam
from .internal_influence import InternalInfluence
from .layer_activation import LayerActivation
from .layer_conductance import LayerConductance
from .layer_deep_lift import LayerDeepLift
from .layer_deep_lift_shap import LayerDeepLiftShap
from .layer_feature_ablation import LayerFeatureAblation
from .layer_feature_permutation import LayerFeaturePermutation
from .layer_gradient_shap import LayerGradientShap
from .layer_gradient_x_activation import LayerGradientXActivation
from .layer_integrated_gradients import LayerIntegratedGradients
from .layer_lrp import LayerLRP

__all__ = [
    "GuidedGradCam",
    "InternalInfluence",
    "LayerActivation",
    "LayerConductance",
    "LayerDeepLift",
    "LayerDeepLiftShap",
    "LayerFeatureAblation",
    "LayerFeaturePermutation",
    "LayerGradCam",
    "LayerGradientShap",
    "LayerGradientXActivation",
    "LayerIntegratedGradients",
    "LayerLRP",
]
