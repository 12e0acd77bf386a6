"""Features (modalities) of a visualiser's inputs: Captum Insights' classes, plus time series.

One feature describes one input tensor of the model: how to turn a raw dataset tensor into the
model's input (``input_transforms``), which references it can be compared against
(``baseline_transforms``), how to show it (``visualization_transform``), and how its input and
attribution travel to the front end. Transforms act on one example *without* its batch dim
(as in Insights); the result gets the batch dim back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import namedtuple
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ..attr.core import describe
from .baselines import BUILTIN_BASELINES
from .wire import encode_tensor, image_to_uint8

FeatureOutput = namedtuple("FeatureOutput", "name base modified type contribution")

Transforms = Optional[Union[Callable, List[Callable]]]


def _as_list(transforms: Transforms, name: str) -> List[Callable]:
    if transforms is None:
        return []
    items = list(transforms) if isinstance(transforms, (list, tuple)) else [transforms]
    for item in items:
        if not callable(item):
            raise TypeError(f"`{name}` must be a callable or a list of callables; got "
                            f"{describe(item)}.")
    return items


def _transform_name(transform: Callable, index: int) -> str:
    name = getattr(transform, "__name__", "") or type(transform).__name__
    return f"custom {index + 1}" if name in ("<lambda>", "") else name


class BaseFeature(ABC):
    """One modality of the model input.

    Args:
        name: shown in the UI.
        baseline_transforms: callables mapping the model input of one example (no batch dim)
            to a reference; each becomes a baseline choice ("custom") next to the built-ins.
        input_transforms: callables applied in order to one raw example (no batch dim) to
            obtain the model input (e.g. normalisation, token ids -> embeddings).
        visualization_transform: callable mapping the raw example (with batch dim 1) to what is
            shown (an un-normalised image, a list of tokens).
    """

    #: built-in baselines that make sense for this modality (see ``baselines.py``)
    builtin_baselines: Tuple[str, ...] = ("zeros",)

    def __init__(
        self,
        name: str,
        baseline_transforms: Transforms,
        input_transforms: Transforms,
        visualization_transform: Optional[Callable],
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"feature `name` must be a str; got {describe(name)}.")
        self.name = name
        self.baseline_transforms = _as_list(baseline_transforms, "baseline_transforms")
        self.input_transforms = _as_list(input_transforms, "input_transforms")
        if visualization_transform is not None and not callable(visualization_transform):
            raise TypeError("`visualization_transform` must be callable or None; got "
                            f"{describe(visualization_transform)}.")
        self.visualization_transform = visualization_transform

    @staticmethod
    @abstractmethod
    def visualization_type() -> str:
        """The view the front end uses: "image", "text", "general", "timeseries", "empty"."""

    # -- model input ---------------------------------------------------------------------------
    def transform_input(self, example: Tensor) -> Tensor:
        """Raw example with batch dim 1 -> model input with batch dim 1."""
        value = example.squeeze(0) if example.dim() > 0 else example
        for transform in self.input_transforms:
            value = transform(value)
        if not isinstance(value, Tensor):
            raise TypeError(f"`input_transforms` of feature {self.name!r} must return a tensor; "
                            f"got {describe(value)}.")
        return value.unsqueeze(0)

    def baseline_names(self) -> List[str]:
        """Baseline choices: the user's transforms first (Insights used the first), then
        built-ins."""
        custom = [_transform_name(t, i) for i, t in enumerate(self.baseline_transforms)]
        return custom + [b for b in self.builtin_baselines if b not in custom]

    def make_baseline(self, name: str, model_input: Tensor) -> Tensor:
        """The baseline ``name`` for one model input (batch dim 1), shape of the input."""
        names = self.baseline_names()
        if name not in names:
            raise ValueError(f"baseline of feature {self.name!r} must be one of {names}; "
                             f"got {name!r}.")
        index = names.index(name)
        example = model_input.squeeze(0)
        if index < len(self.baseline_transforms):
            value = self.baseline_transforms[index](example)
            value = value if isinstance(value, Tensor) else torch.as_tensor(value)
        else:
            value = BUILTIN_BASELINES[name](example)
        if value.dim() == example.dim():
            value = value.unsqueeze(0)
        return value.to(dtype=model_input.dtype, device=model_input.device).expand_as(
            model_input).contiguous()

    # -- wire ------------------------------------------------------------------------------------
    def shown_data(self, example: Tensor) -> Any:
        """What is displayed for a raw example (batch dim 1)."""
        if self.visualization_transform is None:
            return example
        return self.visualization_transform(example)

    @abstractmethod
    def encode_input(self, example: Tensor) -> Dict[str, Any]:
        """Wire form of a raw example (batch dim 1) for this feature's view."""

    @abstractmethod
    def encode_attribution(self, attribution: Tensor) -> Dict[str, Any]:
        """Wire form of this feature's attribution (shape of the model input, batch dim 1)."""

    # -- perturbation layouts ------------------------------------------------------------------
    def occlusion_window(self, input_shape: Sequence[int], size: int,
                         stride: int) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
        """Sliding window and strides for one example of shape ``input_shape`` (no batch dim).
        Default: windows of ``size`` along dim 0, whole extent of the others."""
        shape = tuple(input_shape)
        if not shape:
            return (), ()
        size = max(1, min(size, shape[0]))
        stride = max(1, min(stride, shape[0]))
        return (size, *shape[1:]), (stride, *shape[1:])

    def feature_mask(self, input_shape: Sequence[int], mode: str, patch_size: int) -> Tensor:
        """Group ids (long, starting at 0) broadcastable to (1, *input_shape).

        ``mode``: "scalars" (every element its own group), "groups" (the modality's natural unit:
        pixel, token, column, time step), "patches" (``patch_size`` consecutive units)."""
        shape = tuple(input_shape)
        if mode == "scalars":
            return torch.arange(int(torch.tensor(shape).prod()) if shape else 1).reshape(
                (1, *shape))
        units = shape[0] if shape else 1
        ids = torch.arange(units)
        if mode == "patches":
            ids = ids // max(1, patch_size)
        return ids.reshape((1, units, *([1] * (len(shape) - 1))))

    # -- Insights compatibility ----------------------------------------------------------------
    def visualize(self, attribution: Tensor, data: Tensor, contribution_frac: float
                  ) -> FeatureOutput:
        """Insights' per-feature output: ``base`` is the wire form of the input, ``modified``
        the wire form of the attribution."""
        return FeatureOutput(name=self.name, base=self.encode_input(data),
                             modified=self.encode_attribution(attribution),
                             type=self.visualization_type(), contribution=contribution_frac)


class ImageFeature(BaseFeature):
    """An image input (C, H, W) per example; greyscale (1 channel) and RGB are both shown."""

    builtin_baselines = ("zeros", "blur", "noise", "mean")

    def __init__(self, name: str, baseline_transforms: Transforms, input_transforms: Transforms,
                 visualization_transform: Optional[Callable] = None) -> None:
        super().__init__(name, baseline_transforms, input_transforms, visualization_transform)

    @staticmethod
    def visualization_type() -> str:
        return "image"

    def encode_input(self, example: Tensor) -> Dict[str, Any]:
        shown = self.shown_data(example)
        shown = shown if isinstance(shown, Tensor) else torch.as_tensor(shown)
        while shown.dim() > 3 and shown.shape[0] == 1:
            shown = shown.squeeze(0)
        return {"type": "image", "original": encode_tensor(image_to_uint8(shown), "uint8")}

    def encode_attribution(self, attribution: Tensor) -> Dict[str, Any]:
        values = attribution.detach().float()
        while values.dim() > 3:
            values = values.sum(1) if values.shape[0] == 1 else values.sum(0)
        # channel-summed map, as Captum's heat maps: the per-channel split is not shown
        values = values.sum(0) if values.dim() == 3 else values
        return encode_tensor(values, "float16")

    def occlusion_window(self, input_shape, size, stride):
        shape = tuple(input_shape)
        if len(shape) < 2:
            return super().occlusion_window(shape, size, stride)
        spatial = shape[-2:]
        window = tuple(max(1, min(size, s)) for s in spatial)
        strides = tuple(max(1, min(stride, s)) for s in spatial)
        return (*shape[:-2], *window), (*shape[:-2], *strides)

    def feature_mask(self, input_shape, mode, patch_size):
        shape = tuple(input_shape)
        if mode == "scalars" or len(shape) < 2:
            return super().feature_mask(shape, mode, patch_size)
        height, width = shape[-2:]
        patch = 1 if mode == "groups" else max(1, patch_size)
        rows = torch.arange(height) // patch
        cols = torch.arange(width) // patch
        ids = rows[:, None] * ((width + patch - 1) // patch) + cols[None, :]
        return ids.reshape((1, *([1] * (len(shape) - 2)), height, width))


class TextFeature(BaseFeature):
    """A token sequence: token ids (L,) or embeddings (L, D) per example; each token is
    coloured by its attribution (summed over the embedding dim)."""

    def __init__(self, name: str, baseline_transforms: Transforms, input_transforms: Transforms,
                 visualization_transform: Optional[Callable]) -> None:
        super().__init__(name, baseline_transforms, input_transforms, visualization_transform)

    @staticmethod
    def visualization_type() -> str:
        return "text"

    def tokens(self, example: Tensor) -> List[str]:
        shown = self.shown_data(example)
        if isinstance(shown, Tensor):
            shown = shown.reshape(-1).tolist()
        elif isinstance(shown, str):
            shown = shown.split()
        shown = list(shown)
        if len(shown) == 1 and isinstance(shown[0], (list, tuple)):
            shown = list(shown[0])
        return [str(token) for token in shown]

    def encode_input(self, example: Tensor) -> Dict[str, Any]:
        return {"type": "text", "tokens": self.tokens(example)}

    def encode_attribution(self, attribution: Tensor) -> Dict[str, Any]:
        values = attribution.detach().float().reshape(attribution.shape[0], attribution.shape[1]
                                                     if attribution.dim() > 1 else 1, -1)
        return encode_tensor(values.sum(-1).reshape(-1), "float32")


class GeneralFeature(BaseFeature):
    """A vector of named values per example (tabular data); ``categories`` names each column.

    ``groups`` (beyond Insights) gives a group id per column, e.g. the one-hot columns of one
    categorical variable share an id; perturbation methods with ``feature_mask="groups"`` then
    switch a group off together."""

    def __init__(self, name: str, categories: List[str],
                 groups: Optional[Sequence[int]] = None) -> None:
        super().__init__(name, baseline_transforms=None, input_transforms=None,
                         visualization_transform=None)
        if not isinstance(categories, (list, tuple)):
            raise TypeError(f"`categories` must be a list of str; got {describe(categories)}.")
        self.categories = [str(c) for c in categories]
        self.groups: Optional[Tensor] = None
        if groups is not None:
            ids = torch.as_tensor(groups).reshape(-1).long()
            if ids.numel() != len(self.categories) or (ids.numel() and int(ids.min()) < 0):
                raise ValueError(f"`groups` needs one id >= 0 per column ({len(self.categories)}"
                                 f"); got {describe(groups)}.")
            # renumber to 0..k-1 so ids stay contiguous across features
            self.groups = torch.unique(ids, return_inverse=True)[1]

    def feature_mask(self, input_shape, mode, patch_size):
        shape = tuple(input_shape)
        if mode == "groups" and self.groups is not None and shape == (self.groups.numel(),):
            return self.groups.reshape(1, -1)
        return super().feature_mask(shape, mode, patch_size)

    @staticmethod
    def visualization_type() -> str:
        return "general"

    def encode_input(self, example: Tensor) -> Dict[str, Any]:
        values = example.detach().float().reshape(-1)
        names = list(self.categories)
        names += [f"{self.name}[{i}]" for i in range(len(names), values.numel())]
        return {"type": "general", "values": encode_tensor(values, "float32"),
                "names": names[: values.numel()]}

    def encode_attribution(self, attribution: Tensor) -> Dict[str, Any]:
        return encode_tensor(attribution.detach().float().reshape(-1), "float32")


class TimeSeriesFeature(BaseFeature):
    """A time series or audio clip: (T,) or (C, T) per example, plotted as a line per channel
    under a strip coloured by attribution.

    Args (beyond :class:`BaseFeature`):
        sample_rate: samples per second (the time axis is labelled in seconds when given).
        channel_names: one name per channel.
    """

    builtin_baselines = ("zeros", "blur", "noise", "mean")

    def __init__(self, name: str, baseline_transforms: Transforms = None,
                 input_transforms: Transforms = None,
                 visualization_transform: Optional[Callable] = None,
                 sample_rate: Optional[float] = None,
                 channel_names: Optional[List[str]] = None) -> None:
        super().__init__(name, baseline_transforms, input_transforms, visualization_transform)
        self.sample_rate = sample_rate
        self.channel_names = list(channel_names) if channel_names else None

    @staticmethod
    def visualization_type() -> str:
        return "timeseries"

    @staticmethod
    def _channels_first(values: Tensor) -> Tensor:
        values = values.detach().float()
        while values.dim() > 2 and values.shape[0] == 1:
            values = values.squeeze(0)
        if values.dim() == 1:
            values = values.unsqueeze(0)
        return values.reshape(values.shape[0], -1)

    def encode_input(self, example: Tensor) -> Dict[str, Any]:
        shown = self.shown_data(example)
        shown = shown if isinstance(shown, Tensor) else torch.as_tensor(shown)
        signal = self._channels_first(shown)
        out: Dict[str, Any] = {"type": "timeseries", "signal": encode_tensor(signal, "float16")}
        if self.sample_rate:
            out["sample_rate"] = float(self.sample_rate)
        if self.channel_names:
            out["channel_names"] = list(self.channel_names)
        return out

    def encode_attribution(self, attribution: Tensor) -> Dict[str, Any]:
        return encode_tensor(self._channels_first(attribution), "float16")

    def occlusion_window(self, input_shape, size, stride):
        shape = tuple(input_shape)
        if len(shape) < 2:
            return super().occlusion_window(shape, size, stride)
        return ((shape[0], max(1, min(size, shape[-1]))),
                (shape[0], max(1, min(stride, shape[-1]))))

    def feature_mask(self, input_shape, mode, patch_size):
        shape = tuple(input_shape)
        if mode == "scalars" or len(shape) < 2:
            return super().feature_mask(shape, mode, patch_size)
        steps = torch.arange(shape[-1]) // (1 if mode == "groups" else max(1, patch_size))
        return steps.reshape((1, 1, shape[-1]))


class AudioFeature(TimeSeriesFeature):
    """An audio waveform: a :class:`TimeSeriesFeature` that requires a ``sample_rate``."""

    def __init__(self, name: str, sample_rate: float, baseline_transforms: Transforms = None,
                 input_transforms: Transforms = None,
                 visualization_transform: Optional[Callable] = None) -> None:
        super().__init__(name, baseline_transforms, input_transforms, visualization_transform,
                         sample_rate=sample_rate)


class EmptyFeature(BaseFeature):
    """An input that is passed to the model but not shown (Insights' placeholder)."""

    def __init__(self, name: str = "empty", baseline_transforms: Transforms = None,
                 input_transforms: Transforms = None,
                 visualization_transform: Optional[Callable] = None) -> None:
        super().__init__(name, baseline_transforms, input_transforms, visualization_transform)

    @staticmethod
    def visualization_type() -> str:
        return "empty"

    def encode_input(self, example: Tensor) -> Dict[str, Any]:
        return {"type": "empty"}

    def encode_attribution(self, attribution: Tensor) -> Dict[str, Any]:
        return encode_tensor(attribution.detach().float().sum().reshape(1), "float32")
