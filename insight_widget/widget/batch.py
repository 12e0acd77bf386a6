"""``Batch``: what a visualiser's dataset yields (Captum Insights' API)."""

from __future__ import annotations

from typing import Any, Optional, Tuple, Union

from torch import Tensor

from ..attr.core import describe


class Batch:
    """A batch of examples: dim 0 of every tensor indexes the examples.

    Args:
        inputs: one tensor per feature (modality), or a single tensor for one feature.
        labels: class index per example, shape (N,); ``None`` for unlabeled data (the examples
            are still shown). A one-element tuple/list around the tensor is accepted, as in the
            Insights VQA tutorial.
        additional_args: extra model arguments (tensors with dim 0 = N are sliced per example,
            anything else is passed unchanged).
    """

    def __init__(
        self,
        inputs: Union[Tensor, Tuple[Tensor, ...]],
        labels: Optional[Tensor],
        additional_args: Any = None,
    ) -> None:
        self.inputs = inputs
        self.labels = labels
        self.additional_args = additional_args

    def input_tuple(self) -> Tuple[Tensor, ...]:
        """The inputs as a tuple of tensors, validated to share dim 0."""
        inputs = self.inputs if isinstance(self.inputs, (tuple, list)) else (self.inputs,)
        if not inputs or not all(isinstance(t, Tensor) for t in inputs):
            raise TypeError(
                "`Batch.inputs` must be a tensor or a tuple of tensors; got "
                f"{describe(self.inputs)}."
            )
        sizes = {t.shape[0] if t.dim() else None for t in inputs}
        if len(sizes) != 1 or None in sizes:
            raise ValueError(
                "every tensor in `Batch.inputs` needs the same number of examples in dim 0; got "
                f"shapes {[tuple(t.shape) for t in inputs]}."
            )
        return tuple(inputs)

    def label_tensor(self) -> Optional[Tensor]:
        """Labels as a 1-D tensor of length N, or ``None`` when unlabeled."""
        labels = self.labels
        if isinstance(labels, (tuple, list)) and len(labels) == 1 and isinstance(labels[0], Tensor):
            labels = labels[0]
        if labels is None:
            return None
        if not isinstance(labels, Tensor):
            raise TypeError(f"`Batch.labels` must be a tensor or None; got {describe(labels)}.")
        return labels.reshape(-1)

    def __len__(self) -> int:
        return int(self.input_tuple()[0].shape[0])

    def __repr__(self) -> str:
        shapes = [tuple(t.shape) for t in self.input_tuple()]
        return f"Batch(inputs={shapes}, labels={'None' if self.labels is None else 'tensor'})"
