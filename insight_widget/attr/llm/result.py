"""LLMAttributionResult: what the LLM wrappers return, with Captum's plots."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .._utils.validation import describe


def _as_tensor(value: Any, name: str, optional: bool = False) -> Optional[Tensor]:
    if value is None:
        if optional:
            return None
        raise ValueError(f"`{name}` is required.")
    if isinstance(value, Tensor):
        return value
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError) as error:
        raise TypeError(f"`{name}` must be array-like; got {describe(value)}.") from error


class LLMAttributionResult:
    """Attributions of a target continuation to the input features.

    Attributes:
        seq_attr: (n_features,) attribution of the whole target.
        token_attr: (n_output_tokens, n_features) per target token, or None (Lime,
            KernelShap).
        input_tokens: feature names (tokens or template values).
        output_tokens: target tokens.
        output_probs: (n_output_tokens,) probability of each target token under the
            unperturbed prompt, or None.
        inp: the interpretable input (used by :meth:`plot_image_heatmap`).
    """

    def __init__(self, *, input_tokens: List[str], output_tokens: List[str], seq_attr: Any,
                 token_attr: Any = None, output_probs: Any = None, inp: Any = None) -> None:
        self.input_tokens = list(input_tokens)
        self.output_tokens = list(output_tokens)
        self.seq_attr = seq_attr
        self.token_attr = token_attr
        self.output_probs = output_probs
        self.inp = inp

    @property
    def seq_attr(self) -> Tensor:
        return self._seq_attr

    @seq_attr.setter
    def seq_attr(self, value: Any) -> None:
        self._seq_attr = _as_tensor(value, "seq_attr")

    @property
    def token_attr(self) -> Optional[Tensor]:
        return self._token_attr

    @token_attr.setter
    def token_attr(self, value: Any) -> None:
        self._token_attr = _as_tensor(value, "token_attr", optional=True)

    @property
    def output_probs(self) -> Optional[Tensor]:
        return self._output_probs

    @output_probs.setter
    def output_probs(self, value: Any) -> None:
        self._output_probs = _as_tensor(value, "output_probs", optional=True)

    @property
    def seq_attr_dict(self) -> Dict[str, float]:
        """{input token: sequence attribution}."""
        return {k: float(v) for k, v in zip(self.input_tokens, self.seq_attr.tolist())}

    def plot_token_attr(self, show: bool = False) -> Optional[Tuple[Any, Any]]:
        """Heat map of ``token_attr`` (output tokens x input tokens), values written in the
        cells; returns ``(fig, ax)`` unless ``show``."""
        if self.token_attr is None:
            raise ValueError("token_attr is None (Lime and KernelShap attribute the sequence "
                             "only); use plot_seq_attr.")
        from .plots import plot_matrix

        return plot_matrix(self.token_attr, self.input_tokens, self.output_tokens, show)

    def plot_seq_attr(self, show: bool = False) -> Optional[Tuple[Any, Any]]:
        """Bar chart of ``seq_attr`` per input token; ``(fig, ax)`` unless ``show``."""
        from .plots import plot_bars

        return plot_bars(self.seq_attr, self.input_tokens, show)

    def plot_image_heatmap(self, show: bool = False,
                           target_token_pos: Union[int, Tuple[int, int], None] = None,
                           border_width: int = 2, show_legends: bool = True
                           ) -> Optional[Tuple[Any, Any]]:
        """The input image with its segments coloured by attribution (ImageMaskInput only).

        ``target_token_pos``: None = the sequence attribution, an int = that output token's,
        ``(m, n)`` = the sum over output tokens m..n-1.
        """
        from .interpretable_input import ImageMaskInput
        from .plots import plot_segments

        if not isinstance(self.inp, ImageMaskInput):
            raise TypeError("plot_image_heatmap needs a result computed on an ImageMaskInput; "
                            f"this one was computed on {describe(self.inp)}.")
        if target_token_pos is None:
            values = self.seq_attr
        else:
            if self.token_attr is None:
                raise ValueError("`target_token_pos` needs token_attr, which is None here.")
            T = self.token_attr.shape[0]
            if isinstance(target_token_pos, int):
                if not -T <= target_token_pos < T:
                    raise ValueError(f"`target_token_pos` must be in [0, {T}); got "
                                     f"{target_token_pos}.")
                values = self.token_attr[target_token_pos]
            else:
                start, stop = target_token_pos
                if not 0 <= start < stop <= T:
                    raise ValueError(f"`target_token_pos` must be (m, n) with 0 <= m < n <= {T}"
                                     f"; got {target_token_pos!r}.")
                values = self.token_attr[start:stop].sum(0)
        return plot_segments(self.inp, values, show, border_width, show_legends)
