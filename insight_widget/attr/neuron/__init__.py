"""Neuron family: attributions of one neuron of a layer to the inputs."""

__all__: list = []
