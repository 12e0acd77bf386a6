"""LLM attribution (``LLMAttribution``, ``LLMGradientAttribution``) over a dataset of prompts.

An LLM method attributes one prompt at a time: ``method.attribute(inp, target)`` returns an
:class:`~insight_widget.attr.LLMAttributionResult` whose ``seq_attr`` (n_features,) is the
attribution of the whole target to each feature of ``inp``. Over a dataset, each example is a
prompt (an ``InterpretableInput``) with its target text; the store keeps ``seq_attr`` as the
example's map, so the features must be the same for every example — a ``TextTemplateInput``
with one template (the features are its slots: "which slot drives the answer", summarised per
slot over the dataset). A prompt with another number of features stops the job with an error
naming the example, as a batch changing shape does. ``label``, ``prediction``, ``score`` and
``target`` are null (the target is text).
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np
import torch

from ..attr import LLMAttribution, LLMGradientAttribution
from ..attr.core import describe
from ..attr.llm import InterpretableInput
from .compute import DEFAULT_TARGET_SENTINEL, BatchResult
from .sources import ShapeChangeError


def is_llm_method(method: Any) -> bool:
    return isinstance(method, (LLMAttribution, LLMGradientAttribution))


def check_llm_target(target: Any) -> Optional[str]:
    """The job's ``target`` for an LLM method: None (each example's own target, or generated)
    or one text for every example."""
    if target is DEFAULT_TARGET_SENTINEL or target is None:
        return None
    if isinstance(target, str):
        return target
    raise ValueError(f"`target` for an LLM attribution method must be None (each example's "
                     f"target from `data`, or generated) or a text; got {describe(target)}.")


def llm_examples(data: Any) -> Iterator[Tuple[Any, Optional[str]]]:
    """(interpretable input, target or None) per example of ``data``: an iterable of
    ``InterpretableInput``, ``(inp, target)`` pairs or dicts with ``inputs`` and ``target``."""
    try:
        items = iter(data)
    except TypeError:
        raise TypeError(f"`data` for an LLM attribution method must be an iterable of prompts "
                        f"(InterpretableInput, (inp, target) pairs or dicts); got "
                        f"{describe(data)}.") from None
    for index, item in enumerate(items):
        if isinstance(item, dict):
            item = (item.get("inputs"), item.get("target"))
        inp, target = item if isinstance(item, tuple) and len(item) == 2 else (item, None)
        if not isinstance(inp, InterpretableInput):
            raise TypeError(f"`data` example {index} must be an InterpretableInput (e.g. a "
                            f"TextTemplateInput), an (inp, target) pair or a dict with "
                            f"'inputs' and 'target'; got {describe(item)}.")
        if target is not None and not isinstance(target, str):
            raise TypeError(f"`data` example {index}: the target must be a text or None; got "
                            f"{describe(target)}.")
        yield inp, target


Stream = Iterator[Tuple[str, torch.Tensor, Optional[BatchResult], Optional[BaseException]]]


def llm_results(method: Any, data: Any, target: Optional[str], attribute_args: Dict[str, Any],
                done: np.ndarray) -> Stream:
    """(where, ids, result, error) per example, as the batch engines stream them; examples in
    ``done`` are left out."""
    finished = set(done.tolist())
    features: Optional[int] = None
    for index, (inp, own_target) in enumerate(llm_examples(data)):
        if index in finished:
            continue
        ids = torch.tensor([index])
        where = f"example {index}"
        try:
            result = method.attribute(inp, target=own_target if own_target is not None
                                      else target, **attribute_args)
        except Exception as error:  # reported or re-raised by the job per `on_error`
            yield where, ids, None, error
            continue
        seq_attr = result.seq_attr.detach().to("cpu", torch.float32).reshape(1, -1)
        if features is None:
            features = seq_attr.shape[1]
        elif seq_attr.shape[1] != features:
            yield where, ids, None, ShapeChangeError(
                f"{seq_attr.shape[1]} features ({result.input_tokens}), but earlier examples "
                f"had {features}; every prompt must have the same features (one "
                "TextTemplateInput template)")
            return
        yield where, ids, BatchResult(ids, None, None, None, None, (seq_attr,), None), None
