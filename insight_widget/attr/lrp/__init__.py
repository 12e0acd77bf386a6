"""Layer-wise relevance propagation: rules and the LRP algorithm."""

__all__: list = []
