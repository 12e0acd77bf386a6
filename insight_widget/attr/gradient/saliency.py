"""Saliency (Simonyan et al., 2013): the gradient of the target output w.r.t. the inputs."""

from __future__ import annotations

from typing import Any

from .._utils.forward import input_gradients
from .._utils.inputs import restore_format
from .._utils.prepare import prepare_call
from .._utils.validation import check_bool
from ..base import GradientAttribution, TensorOrTupleOfTensors


class Saliency(GradientAttribution):
    r"""Saliency map: :math:`a_i = |\partial F(x) / \partial x_i|` (or the signed gradient).

    Args:
        forward_func: the model or any callable returning the output tensor.
    """

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        target: Any = None,
        abs: bool = True,
        additional_forward_args: Any = None,
    ) -> TensorOrTupleOfTensors:
        """Gradients of the targeted output w.r.t. ``inputs``.

        Args:
            inputs: tensor or tuple of tensors, dim 0 = N examples.
            target: output index per example (int, tuple, tensor, list; see ``Target``).
            abs: return absolute values (default True, as Captum).
            additional_forward_args: extra arguments passed to the model after the inputs.

        Returns:
            Attributions with the shape(s) of ``inputs``.
        """
        check_bool("abs", abs)
        call = prepare_call(inputs, target, additional_forward_args, gradients_of="Saliency")
        grads, _ = input_gradients(self.forward_func, call.inputs, call.target, call.args)
        if abs:
            grads = tuple(g.abs() for g in grads)
        return restore_format(grads, call.was_tuple)
