"""Interpretable inputs: what the LLM wrappers perturb, and how a perturbation becomes a prompt.

An interpretable input maps a binary tensor x' of shape (1, M) (1 = feature present,
0 = replaced by its baseline) to the model's input h(x'): token ids for
:class:`TextTokenInput`, a string for :class:`TextTemplateInput`, a processed image for
:class:`ImageMaskInput`. ``format_attr`` maps attributions of the M features back to the
input's own units (template values, image segments).
"""

from __future__ import annotations

import string
from abc import ABC, abstractmethod
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from .._utils.validation import describe
from .tokens import check_tokenizer, encode, ids_to_tokens, token_ids, token_to_id


class InterpretableInput(ABC):
    """Abstract interpretable input (Ribeiro et al. 2016; Lundberg and Lee 2017): a mapping
    ``x = h(x')`` from a binary presence tensor x' (shape (1, M)) to the model input x."""

    @abstractmethod
    def to_tensor(self) -> Tensor:
        """The interpretable representation of the unperturbed input: ones, shape (1, M)."""

    @abstractmethod
    def to_model_input(self, perturbed_tensor: Optional[Tensor] = None) -> Any:
        """The model input for ``perturbed_tensor`` (shape (1, M)); the original when None."""

    def format_attr(self, itp_attr: Tensor) -> Tensor:
        """Attributions of the M features in the input's own units (identity by default)."""
        return itp_attr


def _presence_rows(perturbed: Tensor, n_features: int) -> Tensor:
    """``perturbed`` as a bool (k, M) tensor: which features keep their value."""
    if not isinstance(perturbed, Tensor):
        raise TypeError(f"`perturbed_tensor` must be a tensor; got {describe(perturbed)}.")
    rows = perturbed.reshape(1, -1) if perturbed.dim() == 1 else perturbed
    if rows.dim() != 2 or rows.shape[1] != n_features:
        raise ValueError(f"`perturbed_tensor` must have shape (k, {n_features}); got "
                         f"{describe(perturbed)}.")
    return rows != 0


class TextTokenInput(InterpretableInput):
    """Each token of ``text`` (as ``tokenizer`` splits it) is one feature.

    The model input is the id tensor (1, L); an absent token is replaced by ``baselines``.
    Tokens whose id is in ``skip_tokens`` (e.g. the start-of-sequence token) are not features:
    they are never perturbed and get no attribution.

    Args:
        text: the prompt (non-empty).
        tokenizer: with ``encode`` and ``convert_ids_to_tokens`` (and ``convert_tokens_to_ids``
            when ``baselines`` or ``skip_tokens`` are strings).
        baselines: the replacement token, as an id or a token string. Default: 0.
        skip_tokens: ids or token strings that are not features. Default: None.
    """

    def __init__(self, text: str, tokenizer: Any, baselines: Union[int, str] = 0,
                 skip_tokens: Union[List[int], List[str], None] = None) -> None:
        if not isinstance(text, str) or not text:
            raise ValueError(f"`text` must be a non-empty string; got {describe(text)}.")
        check_tokenizer(tokenizer)
        self.tokenizer = tokenizer
        self.inp_tensor = encode(tokenizer, text).unsqueeze(0)  # (1, L)
        if self.inp_tensor.shape[1] == 0:
            raise ValueError(f"`text` {text!r} has no tokens.")
        if isinstance(baselines, str):
            baselines = token_to_id(tokenizer, baselines, "baselines")
        elif not isinstance(baselines, int) or isinstance(baselines, bool) or baselines < 0:
            raise TypeError("`baselines` must be a token id (int >= 0) or a token string; got "
                            f"{describe(baselines)}.")
        vocab_size = getattr(tokenizer, "vocab_size", None)
        if isinstance(vocab_size, int) and baselines >= max(vocab_size, len_or(tokenizer)):
            raise ValueError(f"`baselines` must be a token id below the vocabulary size "
                             f"{vocab_size}; got {baselines}.")
        self.baselines = int(baselines)
        self.skip_tokens = token_ids(tokenizer, skip_tokens, "skip_tokens")
        skipped = torch.isin(self.inp_tensor, torch.tensor(self.skip_tokens, dtype=torch.long))
        self.itp_mask = ~skipped  # (1, L): positions that are features
        self.n_itp_features = int(self.itp_mask.sum())
        if self.n_itp_features == 0:
            raise ValueError(f"`skip_tokens` {skip_tokens!r} skip every token of `text`: "
                             "nothing is left to attribute.")
        self.itp_tensor = torch.ones(1, self.n_itp_features)
        self.values = ids_to_tokens(tokenizer, self.inp_tensor[self.itp_mask].tolist())

    def to_tensor(self) -> Tensor:
        return self.itp_tensor

    def to_model_input(self, perturbed_tensor: Optional[Tensor] = None) -> Tensor:
        """Token ids (k, L): absent features replaced by the baseline id (k = rows given)."""
        if perturbed_tensor is None:
            return self.inp_tensor.clone()
        present = _presence_rows(perturbed_tensor, self.n_itp_features)
        device = perturbed_tensor.device
        ids = self.inp_tensor.to(device).expand(present.shape[0], -1).clone()
        feature_ids = ids[:, self.itp_mask[0].to(device)]
        feature_ids[~present] = self.baselines
        ids[:, self.itp_mask[0].to(device)] = feature_ids
        return ids


def len_or(tokenizer: Any) -> int:
    """``len(tokenizer)`` (vocabulary incl. added tokens) when defined, else 0."""
    try:
        return len(tokenizer)
    except TypeError:
        return 0


Template = Union[str, Callable[..., str]]
Segments = Union[List[str], Dict[str, str]]


class TextTemplateInput(InterpretableInput):
    """Segments of a prompt template are the features.

    ``template`` is a format string whose placeholders are filled by ``values`` (a list for
    ``{}`` placeholders, a dict for ``{name}`` ones), or a function taking the values as
    positional or keyword arguments. An absent segment takes its baseline (default ``""``).
    ``mask`` gives segments the same id to perturb them together (one feature).

    Args:
        template: format string or function returning the prompt.
        values: the segments (list or dict; a non-empty collection of strings).
        baselines: replacements, like ``values``, or a callable returning them per evaluation
            (e.g. :class:`ProductBaselines`). Default: None (empty strings).
        mask: feature id per segment, like ``values``. Default: None (one feature each).
    """

    def __init__(self, template: Template, values: Segments,
                 baselines: Union[Segments, Callable[[], Segments], None] = None,
                 mask: Union[List[int], Dict[str, int], None] = None) -> None:
        if isinstance(values, dict):
            self.dict_keys: List[str] = list(values.keys())
            self.values: List[str] = [values[k] for k in self.dict_keys]
        elif isinstance(values, (list, tuple)):
            self.dict_keys = []
            self.values = list(values)
        else:
            raise TypeError(f"`values` must be a list or dict of strings; got {describe(values)}.")
        if not self.values:
            raise ValueError("`values` must hold at least one segment; got none.")
        if not isinstance(template, str) and not callable(template):
            raise TypeError("`template` must be a format string or a function; got "
                            f"{describe(template)}.")
        self.template = template
        if isinstance(template, str):
            _check_template_fields(template, self.values, self.dict_keys)
            self.format_fn: Callable[..., str] = template.format
        else:
            self.format_fn = template
        self.baselines = baselines
        if baselines is not None and not callable(baselines):
            self._baseline_list(baselines, "baselines")
        self.n_features = len(self.values)
        if mask is None:
            self.mask = None
            self.formatted_mask = torch.arange(self.n_features)
        else:
            ids = self._aligned(mask, "mask")
            if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
                raise TypeError(f"`mask` must hold integer feature ids; got {describe(ids)}.")
            self.mask = mask
            unique = sorted(set(ids))
            self.formatted_mask = torch.tensor([unique.index(i) for i in ids])
        self.n_itp_features = int(self.formatted_mask.max()) + 1
        self.itp_tensor = torch.ones(1, self.n_itp_features)

    def _aligned(self, given: Any, argument: str) -> List[Any]:
        """``given`` (list or dict like ``values``) as a list in the values' order."""
        if self.dict_keys:
            if not isinstance(given, dict) or set(given) != set(self.dict_keys):
                keys = f" with keys {list(given)}" if isinstance(given, dict) else ""
                raise ValueError(f"`{argument}` must be a dict with the keys of `values` "
                                 f"{self.dict_keys}; got {describe(given)}{keys}.")
            return [given[k] for k in self.dict_keys]
        if not isinstance(given, (list, tuple)) or len(given) != len(self.values):
            raise ValueError(f"`{argument}` must be a list of {len(self.values)} entries, one per "
                             f"value; got {describe(given)}.")
        return list(given)

    def _baseline_list(self, baselines: Any, argument: str) -> List[str]:
        return self._aligned(baselines, argument)

    def _fill(self, segments: Sequence[str]) -> str:
        if self.dict_keys:
            return self.format_fn(**dict(zip(self.dict_keys, segments)))
        return self.format_fn(*segments)

    def to_tensor(self) -> Tensor:
        return self.itp_tensor

    def to_model_input(self, perturbed_tensor: Optional[Tensor] = None) -> Union[str, List[str]]:
        """The prompt for one row of ``perturbed_tensor`` (a list of prompts for several rows;
        callable baselines are drawn once per row)."""
        if perturbed_tensor is None:
            return self._fill(self.values)
        present = _presence_rows(perturbed_tensor, self.n_itp_features).cpu()
        prompts = []
        for row in present:
            keep = row[self.formatted_mask]
            base = self._current_baselines()
            prompts.append(self._fill([v if k else b for v, b, k in
                                       zip(self.values, base, keep.tolist())]))
        return prompts[0] if len(prompts) == 1 else prompts

    def _current_baselines(self) -> List[str]:
        if self.baselines is None:
            return [""] * self.n_features
        drawn = self.baselines() if callable(self.baselines) else self.baselines
        return self._baseline_list(drawn, "baselines")

    def format_attr(self, itp_attr: Tensor) -> Tensor:
        """(R, M) feature attributions -> (R, number of values): each value its group's."""
        return itp_attr[..., self.formatted_mask.to(itp_attr.device)]


def _check_template_fields(template: str, values: List[str], keys: List[str]) -> None:
    """The template's placeholders must match the values one to one."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as error:
        raise ValueError(f"`template` {template!r} is not a valid format string: {error}"
                         ) from error
    if keys:
        names = {f.split(".")[0].split("[")[0] for f in fields}
        if names != set(keys):
            raise ValueError(f"`values` keys {sorted(keys)} must match the template's fields "
                             f"{sorted(names)} ({template!r}).")
        return
    if any(f not in ("",) and not f.isdigit() for f in fields):
        raise ValueError(f"`template` {template!r} has named fields; pass `values` as a dict.")
    positional = [f for f in fields if f == ""]
    count = len(positional) if positional else len({int(f) for f in fields})
    if count != len(values):
        raise ValueError(f"`values` has {len(values)} segments but `template` {template!r} has "
                         f"{count} placeholders.")


class ImageMaskInput(InterpretableInput):
    """Segments of an image are the features (for multi-modal LLMs).

    An absent segment's pixels take ``baseline`` (an RGB triple); ``processor_fn`` turns the
    (masked) PIL image into the model input (default: the image itself).

    Args:
        image: a PIL image.
        mask: integer tensor (H, W) assigning a segment id to every pixel; None = one segment.
        mask_list: list of bool tensors (H, W), one per feature (may overlap); overrides mask.
        baseline: RGB value of absent pixels. Default: (255, 255, 255).
        processor_fn: image -> model input.
    """

    def __init__(self, image: Any, mask: Optional[Tensor] = None,
                 mask_list: Optional[List[Tensor]] = None,
                 baseline: Tuple[int, int, int] = (255, 255, 255),
                 processor_fn: Callable[[Any], Any] = lambda x: x) -> None:
        if not hasattr(image, "size") or not hasattr(image, "convert"):
            raise TypeError(f"`image` must be a PIL image; got {describe(image)}.")
        self.image = image
        self.processor_fn = processor_fn
        self.baseline = tuple(baseline)
        if len(self.baseline) != 3:
            raise ValueError(f"`baseline` must be an RGB triple; got {baseline!r}.")
        size = tuple(image.size[::-1])  # (H, W)
        self.mask_list = None
        if mask_list is not None:
            if not mask_list:
                raise ValueError("`mask_list` must hold at least one mask.")
            for i, m in enumerate(mask_list):
                if tuple(m.shape) != size:
                    raise ValueError(f"`mask_list[{i}]` must have the image's shape {size}; got "
                                     f"{tuple(m.shape)}.")
            self.mask_list = [m.bool() for m in mask_list]
            self.mask = None
            self.n_itp_features = len(self.mask_list)
        else:
            if mask is None:
                mask = torch.zeros(size, dtype=torch.long)
            if tuple(mask.shape) != size:
                raise ValueError(f"`mask` must have the image's shape {size}; got "
                                 f"{tuple(mask.shape)}.")
            self.mask = mask
            self._mask_ids = torch.unique(mask)
            self.n_itp_features = len(self._mask_ids)
        self.itp_tensor = torch.ones(1, self.n_itp_features)
        self.values = [f"image segment {i}" for i in range(self.n_itp_features)]

    def get_mask_list(self) -> List[Tensor]:
        """One bool (H, W) mask per feature."""
        if self.mask_list is not None:
            return self.mask_list
        return [self.mask == i for i in self._mask_ids]

    def to_tensor(self) -> Tensor:
        return self.itp_tensor

    def to_model_input(self, perturbed_tensor: Optional[Tensor] = None) -> Any:
        if perturbed_tensor is None:
            return self.processor_fn(self.image)
        present = _presence_rows(perturbed_tensor, self.n_itp_features)
        if present.shape[0] != 1:
            raise ValueError("ImageMaskInput.to_model_input takes one perturbed row at a time.")
        import numpy as np
        from PIL import Image

        pixels = np.array(self.image.convert("RGB"))
        absent = torch.zeros(pixels.shape[:2], dtype=torch.bool)
        for keep, m in zip(present[0].tolist(), self.get_mask_list()):
            if not keep:
                absent |= m.cpu()
        pixels[absent.numpy()] = self.baseline
        return self.processor_fn(Image.fromarray(pixels))

    def format_attr(self, itp_attr: Tensor) -> Tensor:
        return itp_attr

    def format_pixel_attr(self, itp_attr: Tensor) -> Tensor:
        """Attribution per pixel, shape (1, H, W): the sum over the features covering it."""
        masks = torch.stack(self.get_mask_list()).to(itp_attr.device, itp_attr.dtype)
        return torch.einsum("m,mhw->hw", itp_attr.reshape(-1), masks).unsqueeze(0)

    def plot_mask_overlay(self, show: bool = False, border_width: int = 0,
                          show_legends: bool = True) -> Any:
        """The image with each segment tinted and labelled; ``(fig, ax)`` unless ``show``."""
        from .plots import plot_segments

        return plot_segments(self, None, show, border_width, show_legends)
