"""Gradient family: algorithms built on gradients of the output w.r.t. the inputs."""

from .deconvolution import Deconvolution
from .deep_lift import DeepLift
from .deep_lift_shap import DeepLiftShap
from .gradient_shap import GradientShap
from .guided_backprop import GuidedBackprop
from .input_x_gradient import InputXGradient
from .integrated_gradients import IntegratedGradients
from .noise_tunnel import NoiseTunnel
from .saliency import Saliency

__all__ = [
    "Deconvolution",
    "DeepLift",
    "DeepLiftShap",
    "GradientShap",
    "GuidedBackprop",
    "InputXGradient",
    "IntegratedGradients",
    "NoiseTunnel",
    "Saliency",
]
