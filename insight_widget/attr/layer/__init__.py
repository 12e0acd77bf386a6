"""Layer family: attributions to the neurons (activations) of a layer."""

__all__: list = []
