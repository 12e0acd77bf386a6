"""Incremental evaluation of perturbed images (attr/_utils/incremental.py): perturbation methods
on a CNN recompute only the boxes a perturbation reaches, with Captum's numbers up to float32
rounding, on every operation the stand-ins handle and on the ones they materialize for."""

import gc
import random
import weakref
from typing import List

import captum.attr as captum_attr
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import insight_widget.attr as ours_attr
from insight_widget.attr._utils import incremental
from insight_widget.attr._utils.incremental import IncrementalRows, union_box, window_box


@pytest.fixture
def recordings(monkeypatch) -> List[incremental.Recording]:
    """Every :class:`Recording` made during the test (to see that patches were used)."""
    made: List[incremental.Recording] = []
    original = incremental.Recording.__init__

    def init(self, byte_limit):
        original(self, byte_limit)
        made.append(self)

    monkeypatch.setattr(incremental.Recording, "__init__", init)
    return made


def test_window_box_holds_exactly_the_outputs_a_box_can_change():
    """Brute force over 1-D windows: output o changes iff its window meets the box; every such
    output lies in the returned box, which reads exactly the returned input region."""
    rng = random.Random(0)
    for _ in range(3000):
        kernel, stride, dilation = rng.randint(1, 7), rng.randint(1, 3), rng.randint(1, 2)
        padding = rng.randint(0, kernel // 2 * dilation)
        length = rng.randint(kernel * dilation, 40)
        out_length = (length + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
        size = rng.randint(1, length)
        top = rng.randint(0, length - size)
        (out_top,), out_size, (region_top,), region = window_box(
            [top], size, kernel, stride, padding, dilation, out_length)
        changed = [o for o in range(out_length)
                   if any(top <= o * stride - padding + j * dilation < top + size
                          for j in range(kernel))]
        assert out_top >= 0 and out_top + out_size <= out_length
        assert all(out_top <= o < out_top + out_size for o in changed), (changed, out_top)
        assert region_top == out_top * stride - padding
        assert region == (out_size - 1) * stride + (kernel - 1) * dilation + 1


def test_union_box_covers_both_boxes_inside_the_map():
    tops, size = union_box([0, 10, 28], 8, [4, 2, 30], 5, 36)
    assert size == 16  # copy 1: [2, 18)
    for top, a, b in zip(tops, [0, 10, 28], [4, 2, 30]):
        assert top <= min(a, b) and max(a + 8, b + 5) <= top + size <= 36


class Block(nn.Module):
    """A torchvision-style bottleneck: in-place ReLUs, ``out += identity``, a strided 1x1
    shortcut, a dilated and a grouped convolution."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 2, dilation=2, groups=2)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = (nn.Sequential(nn.Conv2d(channels, channels, 1, stride, bias=False),
                                       nn.BatchNorm2d(channels)) if stride > 1 else None)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class PatchedFriendlyCNN(nn.Module):
    """Every operation the stand-ins handle: a 7x7 stride-2 stem, batch norm with non-trivial
    statistics, max pooling, residual blocks, a per-channel affine step, a sigmoid, global
    average pooling and a linear head."""

    def __init__(self, channels: int = 8, classes: int = 5) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 7, 2, 3)
        self.bn = nn.BatchNorm2d(channels)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.blocks = nn.Sequential(Block(channels, 1), Block(channels, 2), Block(channels, 1))
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, channels).view(1, -1, 1, 1))
        self.head = nn.Linear(channels, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(F.relu(self.bn(self.stem(x))))
        x = torch.sigmoid(self.blocks(x) * self.scale - 0.5)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class MaterializingCNN(PatchedFriendlyCNN):
    """Operations the stand-ins do not handle (slicing with an in-place change through a
    view, average pooling, interpolation, concatenation) between handled ones."""

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(F.relu(self.bn(self.stem(x))))
        x[:, :2].mul_(0.5)  # in place through a view: later readers of x must see it
        x = self.blocks[0](x)
        x = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2.0)
        x = torch.cat([x[:, :4], x[:, 4:] * 2], dim=1)
        x = self.blocks[2](x)
        return self.head(x.mean((2, 3)))


def seeded_eval(cls: type, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = cls()
    for module in model.modules():  # non-trivial running statistics
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def images(n: int = 2, size: int = 64) -> Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def grid(size: int, cells: int) -> Tensor:
    side = size // cells
    cell = torch.arange(cells * cells).view(cells, cells)
    return cell.repeat_interleave(side, 0).repeat_interleave(side, 1).view(1, 1, size, size)


CALLS = [
    ("FeatureAblation", {"feature_mask": grid(64, 4)}),
    ("FeatureAblation", {"feature_mask": grid(64, 4), "baselines": 0.5,
                         "perturbations_per_eval": 3}),
    ("Occlusion", {"sliding_window_shapes": (3, 16, 16), "strides": (3, 8, 8)}),
    ("Occlusion", {"sliding_window_shapes": (3, 9, 13), "strides": (3, 7, 11)}),
    ("ShapleyValueSampling", {"feature_mask": grid(64, 4), "n_samples": 1}),
]


def assert_rounding_close(ours: Tensor, theirs: Tensor, model: nn.Module, x: Tensor) -> None:
    """Each attribution is a difference of two outputs, each carrying float32 rounding of
    the *outputs'* size (the same products summed in another order over a region): 1e-5 of
    the largest |output| (float32 epsilon is 1.2e-7; sums of a few hundred products)."""
    with torch.no_grad():
        scale = model(x).abs().max().item()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("name, kwargs", CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CALLS)])
def test_patched_evaluation_gives_captums_numbers_and_skips_work(name, kwargs, recordings):
    model, x = seeded_eval(PatchedFriendlyCNN), images()
    if name == "ShapleyValueSampling":
        kwargs = dict(kwargs)
        torch.manual_seed(3)
        theirs = captum_attr.ShapleyValueSampling(model).attribute(x, target=1, **kwargs)
        torch.manual_seed(3)
        ours = ours_attr.ShapleyValueSampling(model).attribute(x, target=1, **kwargs)
    else:
        theirs = getattr(captum_attr, name)(model).attribute(x, target=1, **kwargs)
        ours = getattr(ours_attr, name)(model).attribute(x, target=1, **kwargs)
    assert_rounding_close(ours, theirs, model, x)
    assert recordings, "the perturbed passes should have run on patches"
    if name != "ShapleyValueSampling":  # its coalitions cover most of the image
        done = sum(r.macs_done for r in recordings)
        whole = sum(r.macs_whole for r in recordings)
        assert 0 < done < 0.8 * whole, (done, whole)
        assert any(r.folded for r in recordings), "batch norms should be folded into convs"


def test_operations_without_patch_rules_are_materialized_with_the_same_numbers(recordings):
    model, x = seeded_eval(MaterializingCNN), images()
    kwargs = {"sliding_window_shapes": (3, 12, 12), "strides": (3, 10, 10)}
    theirs = captum_attr.Occlusion(model).attribute(x, target=2, **kwargs)
    ours = ours_attr.Occlusion(model).attribute(x, target=2, **kwargs)
    assert_rounding_close(ours, theirs, model, x)
    assert recordings and sum(r.macs_done for r in recordings) > 0


class Unpatchable(nn.Module):
    """Accepts exactly ``torch.Tensor`` (no subclass): a stand-in cannot take part, so the
    engine must run such a model as usual."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        if type(x) is not torch.Tensor:
            raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
        return self.conv(x).mean((2, 3))


def test_a_model_that_rejects_stand_ins_runs_as_usual():
    torch.manual_seed(0)
    model, x = Unpatchable().eval(), images()
    mask = grid(64, 2)
    theirs = captum_attr.FeatureAblation(model).attribute(x, target=0, feature_mask=mask)
    ours = ours_attr.FeatureAblation(model).attribute(x, target=0, feature_mask=mask)
    assert_rounding_close(ours, theirs, model, x)


def test_small_images_and_training_mode_models_run_as_usual(recordings):
    model = seeded_eval(PatchedFriendlyCNN)
    small = torch.randn(2, 3, 32, 32)
    ours_attr.FeatureAblation(model).attribute(small, target=0, feature_mask=grid(32, 4))
    model.train()
    ours_attr.FeatureAblation(model).attribute(images(), target=0, feature_mask=grid(64, 4))
    assert all(r.macs_done == 0 for r in recordings) and len(recordings) <= 1
    assert model.training


def test_the_environment_can_turn_incremental_evaluation_off(monkeypatch, recordings):
    model, x = seeded_eval(PatchedFriendlyCNN), images()
    monkeypatch.setenv("INSIGHT_WIDGET_INCREMENTAL", "0")
    ours_attr.FeatureAblation(model).attribute(x, target=0, feature_mask=grid(64, 4))
    assert not recordings
    monkeypatch.setenv("INSIGHT_WIDGET_INCREMENTAL", "1")
    ours_attr.FeatureAblation(model).attribute(x, target=0, feature_mask=grid(64, 4))
    assert recordings


def test_model_untouched_and_recording_released():
    model, x = seeded_eval(PatchedFriendlyCNN), images()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    made: List[weakref.ref] = []
    original = incremental.Recording.__init__

    def init(self, byte_limit):
        original(self, byte_limit)
        made.append(weakref.ref(self))

    incremental.Recording.__init__ = init
    gc.disable()  # freed by reference counting at the end of the call, not by the collector
    try:
        ours_attr.Occlusion(model).attribute(x, target=0, sliding_window_shapes=(3, 16, 16),
                                             strides=(3, 16, 16))
        assert made and all(ref() is None for ref in made), "the recording outlived the call"
    finally:
        gc.enable()
        incremental.Recording.__init__ = original
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_stand_in_reports_the_full_shape_and_materializes_to_the_copies():
    base = torch.randn(2, 3, 10, 12)
    recording = incremental.Recording(1 << 20)
    patch = torch.randn(4, 3, 4, 5)  # 2 copies of 2 examples
    record = incremental.Record(0, tuple(base.shape), base)
    recording.serials.append(record)
    stand_in = incremental.Patched.make(record, base, patch, [0, 6], [7, 2], 2, recording)
    assert stand_in.shape == (4, 3, 10, 12) and stand_in.dim() == 4
    value = IncrementalRows.unwrap(stand_in)
    expected = base.repeat(2, 1, 1, 1)
    expected[:2, :, 0:4, 7:12] = patch[:2]
    expected[2:, :, 6:10, 2:7] = patch[2:]
    assert torch.equal(value, expected)


@pytest.mark.slow
def test_transformers_resnet_occlusion_matches_captum(recordings):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 64],
                                       depths=[1, 2, 1, 1], num_labels=4)
    net = transformers.ResNetForImageClassification(config).eval()

    class Logits(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixels: Tensor) -> Tensor:
            return self.net(pixels).logits

    model, x = Logits().eval(), images(2, 96)
    kwargs = {"sliding_window_shapes": (3, 24, 24), "strides": (3, 12, 12)}
    theirs = captum_attr.Occlusion(model).attribute(x, target=3, **kwargs)
    ours = ours_attr.Occlusion(model).attribute(x, target=3, **kwargs)
    assert_rounding_close(ours, theirs, model, x)
    assert recordings and sum(r.macs_done for r in recordings) < sum(
        r.macs_whole for r in recordings)


def test_regions_read_the_patch_inside_the_box_and_the_base_around_it():
    """Random boxes and regions (reaching past the map's edges): each region equals the
    materialized copies sliced there, with the fill value outside the map."""
    rng = random.Random(2)
    base = torch.randn(2, 3, 11, 9)
    for _ in range(200):
        copies, s, t = rng.randint(1, 3), rng.randint(1, 11), rng.randint(1, 9)
        tops = [rng.randint(0, 11 - s) for _ in range(copies)]
        lefts = [rng.randint(0, 9 - t) for _ in range(copies)]
        recording = incremental.Recording(1 << 20)
        record = incremental.Record(0, tuple(base.shape), base)
        recording.serials.append(record)
        stand_in = incremental.Patched.make(record, base, torch.randn(copies * 2, 3, s, t),
                                            tops, lefts, copies, recording)
        height, width = rng.randint(1, 14), rng.randint(1, 12)
        region_tops = [rng.randint(-3, 11) for _ in range(copies)]
        region_lefts = [rng.randint(-3, 9) for _ in range(copies)]
        region = stand_in.region(region_tops, height, region_lefts, width, fill=-7.0)
        padded = F.pad(IncrementalRows.unwrap(stand_in), (20, 20, 20, 20), value=-7.0)
        for k, (top, left) in enumerate(zip(region_tops, region_lefts)):
            expected = padded[k * 2:(k + 1) * 2, :, top + 20:top + 20 + height,
                              left + 20:left + 20 + width]
            assert torch.equal(region[k * 2:(k + 1) * 2], expected)


class ScriptedTail(nn.Module):
    """A Python convolution followed by a TorchScript block: TorchScript reads tensors'
    memory directly, so stand-ins must not reach it."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.tail = torch.jit.script(nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                                   nn.Flatten(), nn.Linear(4, 3)))

    def forward(self, x: Tensor) -> Tensor:
        return self.tail(self.conv(x))


class ReadsMemory(nn.Module):
    """Reads its activation's memory behind ``__torch_function__`` (as a C++ extension
    would): through a plain-tensor alias of the same storage."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        with torch._C.DisableTorchFunctionSubclass():
            raw = torch.Tensor.as_subclass(out, torch.Tensor) if isinstance(out, Tensor) else out
            pooled = raw.mean((2, 3))
        return self.head(pooled)


@pytest.mark.parametrize("cls", [ScriptedTail, ReadsMemory])
def test_models_reading_tensor_memory_directly_get_captums_numbers(cls):
    model, x = cls().eval(), images()
    mask = grid(64, 4)
    theirs = captum_attr.FeatureAblation(model).attribute(x, target=2, feature_mask=mask)
    ours = ours_attr.FeatureAblation(model).attribute(x, target=2, feature_mask=mask)
    assert_rounding_close(ours, theirs, model, x)


class ConvReadTwice(nn.Module):
    """A convolution output read by its batch norm and by a residual sum, and a value checked
    in Python (data-dependent control flow): no norm may be folded into that convolution."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(6)
        self.head = nn.Linear(6, 3)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        z = torch.relu(self.bn(y)) + y
        w = self.conv2(z)
        if bool(w.mean() > 100):  # never true: the branch only reads w's values
            w = w * 0
        return self.head(F.adaptive_avg_pool2d(torch.relu(self.bn2(w)), 1).flatten(1))


def test_batch_norms_fold_only_into_convolutions_nothing_else_reads(recordings):
    model, x = seeded_eval(ConvReadTwice), images()
    mask = grid(64, 4)
    theirs = captum_attr.FeatureAblation(model).attribute(x, target=1, feature_mask=mask)
    ours = ours_attr.FeatureAblation(model).attribute(x, target=1, feature_mask=mask)
    assert_rounding_close(ours, theirs, model, x)
    assert recordings and not any(r.folded for r in recordings)
    assert sum(r.macs_done for r in recordings) > 0
