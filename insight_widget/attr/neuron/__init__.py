"""Neuron family: attributions of one neuron of a layer to the inputs."""

from .neuron_conductance import NeuronConductance
from .neuron_deconvolution import NeuronDeconvolution
from .neuron_deep_lift import NeuronDeepLift
from .neuron_deep_lift_shap import NeuronDeepLiftShap
from .neuron_feature_ablation import NeuronFeatureAblation
from .neuron_gradient import NeuronGradient
from .neuron_gradient_shap import NeuronGradientShap
from .neuron_guided_backprop import NeuronGuidedBackprop
from .neuron_integrated_gradients import NeuronIntegratedGradients

__all__ = [
    "NeuronConductance",
    "NeuronDeconvolution",
    "NeuronDeepLift",
    "NeuronDeepLiftShap",
    "NeuronFeatureAblation",
    "NeuronGradient",
    "NeuronGradientShap",
    "NeuronGuidedBackprop",
    "NeuronIntegratedGradients",
]
