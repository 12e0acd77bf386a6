"""Perturbed rows of a convolutional model run in channels-last layout (attr/_utils/layout.py):
the convolutions see it, the numbers stay Captum's up to float32 rounding, models that cannot
take it fall back to NCHW, and nothing of the model changes."""

from typing import List

import captum.attr as captum_attr
import pytest
import torch
from torch import Tensor, nn

import insight_widget.attr as ours_attr
from insight_widget.testing import ResidualConvNet, TabularMLP, image_batch, seeded

from .captum_oracle import ATOL, RTOL, assert_same


def record_conv_layouts(model: nn.Module) -> List[bool]:
    """Whether each call of ``model``'s first convolution got a channels-last input."""
    seen: List[bool] = []
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    first.register_forward_pre_hook(
        lambda _, args: seen.append(
            args[0].is_contiguous(memory_format=torch.channels_last)
            and not args[0].is_contiguous()))
    return seen


class FlattensWithView(nn.Module):
    """A LeNet-style CNN that flattens with ``view``: a channels-last activation cannot be
    viewed that way, so this model needs NCHW inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.conv(x))
        return self.fc(out.view(out.shape[0], -1))


@pytest.mark.parametrize("name, kwargs", [
    ("FeatureAblation", {}),
    ("Occlusion", {"sliding_window_shapes": (3, 8, 8), "strides": (3, 4, 4)}),
])
def test_conv_models_get_channels_last_rows_and_captums_numbers(name, kwargs):
    model = seeded(ResidualConvNet)
    x = image_batch(2)
    mask = torch.arange(16).view(4, 4).repeat_interleave(8, 0).repeat_interleave(8, 1)
    if name == "FeatureAblation":
        kwargs = {"feature_mask": mask.view(1, 1, 32, 32)}
    theirs = getattr(captum_attr, name)(model).attribute(x, target=1, **kwargs)
    seen = record_conv_layouts(model)
    ours = getattr(ours_attr, name)(model).attribute(x, target=1, **kwargs)
    assert seen and all(seen), "every forward of the attribution should be channels-last"
    # The same products summed in another order (layout-dependent kernels): float32 rounding
    # of outputs of magnitude ~1, far inside the suite's usual tolerance.
    assert_same(ours, theirs, RTOL, ATOL)
    assert ours.is_contiguous(), "attributions are returned in the usual NCHW layout"


def test_a_model_that_needs_nchw_falls_back_and_matches_captum():
    model = seeded(FlattensWithView)
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(RuntimeError):  # the premise: channels-last breaks this model
        model(x.contiguous(memory_format=torch.channels_last))
    seen = record_conv_layouts(model)
    ours = ours_attr.FeatureAblation(model).attribute(x, target=2)
    theirs = captum_attr.FeatureAblation(model).attribute(x, target=2)
    assert seen[0] is True and not any(seen[1:]), "one channels-last try, then NCHW"
    assert_same(ours, theirs, RTOL, ATOL)


def test_an_error_of_the_model_itself_still_propagates():
    class Broken(FlattensWithView):
        def forward(self, x: Tensor) -> Tensor:
            raise RuntimeError("broken on purpose")

    with pytest.raises(RuntimeError, match="broken on purpose"):
        ours_attr.FeatureAblation(seeded(Broken)).attribute(torch.zeros(1, 3, 8, 8), target=0)


def test_models_without_convolutions_keep_nchw_rows():
    seen: List[bool] = []

    class Pixels(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mlp = TabularMLP(in_features=48)

        def forward(self, x: Tensor) -> Tensor:
            seen.append(x.is_contiguous())
            return self.mlp(x.reshape(x.shape[0], -1))

    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    ours_attr.FeatureAblation(seeded(Pixels)).attribute(x, target=0)
    assert seen and all(seen)


def test_the_model_is_left_as_it_was():
    model = seeded(ResidualConvNet)
    before = {k: (v.clone(), v.stride()) for k, v in model.state_dict().items()}
    ours_attr.Occlusion(model).attribute(image_batch(1), target=0, sliding_window_shapes=(3, 8, 8))
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key][0]) and value.stride() == before[key][1], key
