"""Neuron family: attributions of one neuron of a layer to the inputs."""

from .neuron_conductance import NeuronConductance
from .neuron_feature_ablation import NeuronFeatureAblation
from .neuron_gradient import NeuronGradient
from .neuron_integrated_gradients import NeuronIntegratedGradients

__all__ = [
    "NeuronConductance",
    "NeuronFeatureAblation",
    "NeuronGradient",
    "NeuronIntegratedGradients",
]
