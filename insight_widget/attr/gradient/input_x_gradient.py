"""Input X Gradient (Shrikumar et al., 2016): the input times the gradient of the output."""

from __future__ import annotations

from typing import Any

from .._utils.forward import input_gradients
from .._utils.inputs import restore_format
from .._utils.prepare import prepare_call
from ..base import GradientAttribution, TensorOrTupleOfTensors


class InputXGradient(GradientAttribution):
    r""":math:`a_i = x_i \cdot \partial F(x) / \partial x_i`.

    For a linear model ``w.x + b`` this is ``w * x``; on a bias-free ReLU network it sums to
    F(x) (Euler's theorem for positively homogeneous functions).
    """

    @property
    def multiplies_by_inputs(self) -> bool:
        return True

    def attribute(
        self,
        inputs: TensorOrTupleOfTensors,
        target: Any = None,
        additional_forward_args: Any = None,
    ) -> TensorOrTupleOfTensors:
        """Input times gradient, with the shape(s) of ``inputs`` (N, ...)."""
        call = prepare_call(inputs, target, additional_forward_args, gradients_of="InputXGradient")
        grads, _ = input_gradients(self.forward_func, call.inputs, call.target, call.args)
        return restore_format(tuple(g * x for g, x in zip(grads, call.inputs)), call.was_tuple)
