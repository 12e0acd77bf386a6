"""Image visualisations: pixel parity with captum 0.9.0 (Agg renders) and the fixes."""

import warnings

import numpy as np
import pytest
import torch
from captum.attr import visualization as captum_viz
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from insight_widget.attr import visualization as viz

from .visual_oracle import assert_same_pixels, pixels

METHODS = ["heat_map", "blended_heat_map", "original_image", "masked_image", "alpha_scaling"]
SIGNS = ["all", "positive", "negative", "absolute_value"]
RNG = np.random.default_rng(0)
ATTR = RNG.standard_normal((9, 11, 3))
IMAGE = RNG.random((9, 11, 3))


def render(module, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figure, _ = module.visualize_image_attr(*args, use_pyplot=False, **kwargs)
    return pixels(figure)


COMBOS = [pytest.param(method, sign, id=f"{method}-{sign}") for method in METHODS
          for sign in SIGNS
          if not (method in ("masked_image", "alpha_scaling") and sign == "all")]


@pytest.mark.parametrize(("method", "sign"), COMBOS)
@pytest.mark.parametrize("options", [
    {},
    {"show_colorbar": True, "title": "T", "outlier_perc": 10, "cmap": "viridis",
     "alpha_overlay": 0.3, "fig_size": (4, 3)},
], ids=["defaults", "options"])
def test_image_renders_match_captum(method, sign, options):
    assert_same_pixels(render(viz, ATTR, IMAGE, method, sign, **options),
                       render(captum_viz, ATTR, IMAGE, method, sign, **options))


@pytest.mark.parametrize("image", [
    (IMAGE * 255).astype(np.uint8), IMAGE[:, :, :1], IMAGE[:, :, 0], IMAGE * 0.5 + 0.2,
], ids=["uint8", "grey-hw1", "grey-hw", "float-in-range"])
@pytest.mark.parametrize("method", ["heat_map", "blended_heat_map", "original_image"])
def test_other_image_kinds_match_captum(image, method):
    attr = ATTR if image.ndim == 3 and image.shape[2] == 3 else ATTR[:, :, :1]
    # Captum cannot blend (H, W) originals; the (H, W, 1) form is the same picture.
    blend_2d = image.ndim == 2 and method == "blended_heat_map"
    captum_image = image[:, :, None] if blend_2d else image
    assert_same_pixels(render(viz, attr, image, method, "positive"),
                       render(captum_viz, attr, captum_image, method, "positive"))


def test_multiple_visualisations_match_captum():
    arguments = (ATTR, IMAGE, ["original_image", "heat_map", "blended_heat_map"],
                 ["all", "positive", "all"])
    options = {"titles": ["a", "b", "c"], "show_colorbar": True}
    ours, axes = viz.visualize_image_attr_multiple(*arguments, use_pyplot=False, **options)
    theirs, _ = captum_viz.visualize_image_attr_multiple(*arguments, use_pyplot=False, **options)
    assert isinstance(axes, list) and len(axes) == 3
    assert_same_pixels(pixels(ours), pixels(theirs))
    _, axis = viz.visualize_image_attr_multiple(ATTR, IMAGE, ["heat_map"], ["all"],
                                                     use_pyplot=False)
    assert not isinstance(axis, list)
    plt.close("all")


def test_pyplot_figures_match_captum():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, _ = viz.visualize_image_attr(ATTR, IMAGE, "blended_heat_map", "all")
        theirs, _ = captum_viz.visualize_image_attr(ATTR, IMAGE, "blended_heat_map", "all")
    assert_same_pixels(pixels(ours), pixels(theirs))


def test_draws_into_a_given_figure_and_axis_and_returns_them():
    figure = Figure(figsize=(4, 4))
    axis = figure.subplots()
    returned = viz.visualize_image_attr(ATTR, IMAGE, "heat_map", plt_fig_axis=(figure, axis),
                                        use_pyplot=False)
    assert returned[0] is figure and returned[1] is axis and len(axis.images) == 1


def test_channel_first_tensors_and_batch_of_one_render_like_channel_last_arrays():
    expected = render(viz, ATTR, IMAGE, "blended_heat_map", "all")
    chw_attr = torch.from_numpy(ATTR).permute(2, 0, 1)
    chw_image = torch.from_numpy(IMAGE).permute(2, 0, 1).unsqueeze(0)
    assert_same_pixels(render(viz, chw_attr, chw_image, "blended_heat_map", "all"), expected)
    grey = render(viz, ATTR[None, :, :, 0], IMAGE[None, :, :, 0], "blended_heat_map", "all")
    assert_same_pixels(grey, render(viz, ATTR[:, :, :1], IMAGE[:, :, :1], "blended_heat_map",
                                    "all"))


def test_greyscale_originals_work_with_every_method_and_take_a_colour_map():
    grey = IMAGE[:, :, 0]
    for method in METHODS:
        figure, axis = viz.visualize_image_attr(ATTR[:, :, 0], grey, method, "positive",
                                                use_pyplot=False, original_cmap="magma")
        assert axis.images
        if method in ("original_image", "masked_image"):
            assert axis.images[0].get_cmap().name == "magma"
        plt.close(figure)
    _, axis = viz.visualize_image_attr(ATTR[:, :, 0], grey, "original_image", use_pyplot=False)
    assert axis.images[0].get_cmap().name == plt.get_cmap().name  # Captum's default


def test_standardised_originals_are_rescaled_instead_of_clipped():
    standardised = (IMAGE - 0.45) / 0.22  # values from about -2 to 2.5
    _, axis = viz.visualize_image_attr(ATTR, standardised, "original_image", use_pyplot=False)
    shown = np.asarray(axis.images[0].get_array())
    assert shown.min() == 0 and shown.max() == 255
    # min-max rescaling keeps the order of values (Captum clips half the pixels to black)
    flat_input, flat_shown = standardised.ravel(), shown.ravel().astype(float)
    order = np.argsort(flat_input, kind="stable")
    assert np.all(np.diff(flat_shown[order]) >= 0)
    _, axis = viz.visualize_image_attr(ATTR, standardised, "original_image", use_pyplot=False,
                                       original_range=(-0.45 / 0.22, 0.55 / 0.22))
    restored = np.asarray(axis.images[0].get_array()).astype(float)
    assert np.abs(restored - IMAGE * 255).max() <= 1.0
    plt.close("all")


def test_shared_scale_keeps_magnitudes_comparable():
    weak = ATTR * 0.25
    # Captum's per-image normalisation makes a map and its quarter look the same...
    assert_same_pixels(render(viz, weak, None, "heat_map", "all"),
                       render(viz, ATTR, None, "heat_map", "all"))
    # ...a shared scale does not, and reads in attribution units.
    scale = viz.attribution_scale(ATTR, weak, sign="all")
    _, strong_axis = viz.visualize_image_attr(ATTR, None, "heat_map", "all", use_pyplot=False,
                                              vmax=scale)
    _, weak_axis = viz.visualize_image_attr(weak, None, "heat_map", "all", use_pyplot=False,
                                            vmax=scale)
    strong_map = np.asarray(strong_axis.images[0].get_array())
    weak_map = np.asarray(weak_axis.images[0].get_array())
    unsaturated = np.abs(strong_map) < scale
    assert np.allclose(weak_map[unsaturated], 0.25 * strong_map[unsaturated])
    assert strong_axis.images[0].norm.vmax == pytest.approx(scale)
    plt.close("all")


def test_zero_attributions_and_zero_outlier_percentage_do_not_crash():
    with pytest.warns(UserWarning, match="no non-zero values"):
        _, axis = viz.visualize_image_attr(np.zeros((4, 4, 3)), None, "heat_map", "positive",
                                           use_pyplot=False)
    assert not np.asarray(axis.images[0].get_array()).any()
    _, axis = viz.visualize_image_attr(ATTR, None, "heat_map", "all", outlier_perc=0,
                                       use_pyplot=False)
    assert np.abs(np.asarray(axis.images[0].get_array())).max() == pytest.approx(1.0)
    plt.close("all")


def test_bad_arguments_raise_errors_naming_them():
    with pytest.raises(ValueError, match="`method` must be one of"):
        viz.visualize_image_attr(ATTR, IMAGE, "heatmap", use_pyplot=False)
    with pytest.raises(ValueError, match="`sign` must be one of"):
        viz.visualize_image_attr(ATTR, IMAGE, "heat_map", "both", use_pyplot=False)
    with pytest.raises(ValueError, match="`attr` and `original_image` must have the same"):
        viz.visualize_image_attr(ATTR[:5], IMAGE, "blended_heat_map", use_pyplot=False)
    with pytest.raises(ValueError, match="`sign` 'all' cannot be shown with method"):
        viz.visualize_image_attr(ATTR, IMAGE, "masked_image", "all", use_pyplot=False)
    with pytest.raises(ValueError, match="`original_image` must be provided"):
        viz.visualize_image_attr(ATTR, None, "blended_heat_map", use_pyplot=False)
    with pytest.raises(ValueError, match="`attr` must be an image"):
        viz.visualize_image_attr(np.zeros(5), None, use_pyplot=False)
    with pytest.raises(ValueError, match="`methods` and `signs` must have the same length"):
        viz.visualize_image_attr_multiple(ATTR, IMAGE, ["heat_map"], ["all", "positive"],
                                          use_pyplot=False)
    with pytest.raises(ValueError, match="`vmax` must be a positive number"):
        viz.visualize_image_attr(ATTR, None, vmax=0.0, use_pyplot=False)
    plt.close("all")


def test_mask_border_and_legend_match_captum():
    mask = np.zeros((10, 12), dtype=bool)
    mask[2:8, 3:10] = True
    mask[4, 5] = False
    renders = []
    for module in (viz, captum_viz):
        figure, axis = plt.subplots()
        axis.imshow(np.zeros((10, 12)))
        module.draw_mask_border(axis, mask, border_width=2, border_color="red")
        module.draw_mask_legend(axis, mask, "region", fontsize=12)
        renders.append(pixels(figure))
    assert_same_pixels(*renders)
