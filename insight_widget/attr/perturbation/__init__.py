"""Perturbation family: attributions from the change of the output under perturbed inputs."""

__all__: list = []
