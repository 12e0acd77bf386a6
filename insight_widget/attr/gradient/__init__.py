"""Gradient family: algorithms built on gradients of the output w.r.t. the inputs."""

from .input_x_gradient import InputXGradient
from .integrated_gradients import IntegratedGradients
from .saliency import Saliency

__all__ = ["InputXGradient", "IntegratedGradients", "Saliency"]
