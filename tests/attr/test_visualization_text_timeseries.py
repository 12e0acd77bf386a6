"""Text (HTML) and time-series visualisations: parity with captum 0.9.0, escaping, errors."""

import html.parser
import warnings

import matplotlib.cm
import numpy as np
import pytest
import torch
from captum.attr import visualization as captum_viz
from IPython.display import HTML
from matplotlib import pyplot as plt

from insight_widget.attr import visualization as viz

from .visual_oracle import assert_same_pixels, pixels

XSS = "<img src=x onerror=alert(1)>"


def records(module, tokens=("the", "<cat>", "sat", "on", "[SEP]"), label=1):
    return [
        module.VisualizationDataRecord(torch.tensor([0.1, -0.2, 0.9, 2.0, -0.33]), 0.8, label, 0,
                                       label, 0.8, list(tokens), 0.01),
        module.VisualizationDataRecord(np.array([0.5, -0.5], dtype=np.float32), 0.123456, "pos",
                                       "neg", "x", 1.23456789, ["a", "b"], 0.5),
    ]


class TagCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def parse(markup):
    collector = TagCollector()
    collector.feed(markup)
    return collector


@pytest.mark.parametrize("legend", [True, False])
def test_text_html_is_identical_to_captum_for_plain_tokens(legend):
    ours = viz.visualize_text(records(viz), legend=legend)
    theirs = captum_viz.visualize_text(records(captum_viz), legend=legend)
    assert isinstance(ours, HTML)
    assert ours.data == theirs.data
    assert parse(ours.data).tags == parse(theirs.data).tags


def test_helpers_format_like_captum():
    words, importances = ["a", "<s>", "c"], [0.33, -0.33, float("nan")]
    assert (viz.format_word_importances(words, importances)
            == captum_viz.format_word_importances(words, importances))
    assert viz.format_classname(3) == captum_viz.format_classname(3)
    assert viz.format_tooltip("x", "y") == captum_viz.format_tooltip("x", "y")
    assert viz.format_special_tokens("<pad>") == captum_viz.format_special_tokens("<pad>")
    for enum in ("ImageVisualizationMethod", "TimeseriesVisualizationMethod", "VisualizeSign"):
        assert ([(m.name, m.value) for m in getattr(viz, enum)]
                == [(m.name, m.value) for m in getattr(captum_viz, enum)])


def test_script_tokens_and_labels_render_as_text():
    hostile = [XSS, 'x"><script>alert(1)</script>', "a&b"]
    record = viz.VisualizationDataRecord(torch.tensor([0.5, -0.5, 0.1]), 0.9,
                                         "<b>bold</b>", "<i>t</i>", 1, 0.5, hostile, 0.0)
    markup = viz.visualize_text([record]).data
    parsed = parse(markup)
    assert "img" not in parsed.tags and "script" not in parsed.tags and "i" not in parsed.tags
    text = "".join(parsed.text)
    assert "#img src=x onerror=alert(1)" in text  # Captum's special-token display, as text
    assert 'x"><script>alert(1)</script>' in text and "a&b" in text
    assert "<b>bold</b> (0.90)" in text and "<i>t</i>" in text
    # same tag structure as a record with harmless tokens and labels
    plain = viz.VisualizationDataRecord(torch.tensor([0.5, -0.5, 0.1]), 0.9, "p", "t", 1, 0.5,
                                        ["a", "b", "c"], 0.0)
    assert parse(viz.visualize_text([plain]).data).tags == parsed.tags


def test_empty_tokens_and_missing_importances_are_rejected():
    empty = viz.VisualizationDataRecord(torch.tensor([]), 0.5, 0, 0, 0, 0.0, [], 0.0)
    with pytest.raises(ValueError, match=r"`datarecords`\[0\].raw_input_ids is empty"):
        viz.visualize_text([empty])
    with pytest.raises(ValueError, match="`words` and `importances` must not be empty"):
        viz.format_word_importances([], [])
    with pytest.raises(ValueError, match="`importances` must have one value per word"):
        viz.format_word_importances(["a", "b"], [0.1])
    with pytest.raises(TypeError, match="VisualizationDataRecord"):
        viz.visualize_text(["not a record"])


@pytest.fixture
def captum_timeseries(monkeypatch):
    """Captum 0.9.0's visualize_timeseries_attr calls ``matplotlib.cm.get_cmap``, which
    matplotlib 3.9 removed; ``pyplot.get_cmap`` is the same function under its surviving name.
    """
    monkeypatch.setattr(matplotlib.cm, "get_cmap", plt.get_cmap, raising=False)
    return captum_viz.visualize_timeseries_attr


SERIES_ATTR = np.random.default_rng(1).standard_normal((15, 3))
SERIES = np.random.default_rng(2).standard_normal((15, 3))


@pytest.mark.parametrize("method", ["overlay_individual", "overlay_combined", "colored_graph"])
@pytest.mark.parametrize("options", [
    {},
    {"sign": "all", "show_colorbar": True, "title": "T", "channel_labels": ["a", "b", "c"],
     "fig_size": (4, 4)},
    {"sign": "positive", "x_values": np.linspace(0, 3, 15), "linewidth": 3,
     "alpha_overlay": 0.4, "cmap": "viridis", "fig_size": (4, 4)},
    {"sign": "negative", "outlier_perc": 20, "fig_size": (3, 3)},
], ids=["defaults", "all-colorbar-labels", "positive-x-values-kwargs", "negative"])
def test_timeseries_renders_match_captum(captum_timeseries, method, options):
    renders = []
    for function in (viz.visualize_timeseries_attr, captum_timeseries):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            figure, _ = function(SERIES_ATTR, SERIES, method=method, use_pyplot=False,
                                 **options)
        renders.append(pixels(figure))
    assert_same_pixels(*renders)


def test_timeseries_accepts_channel_first_tensors():
    expected, _ = viz.visualize_timeseries_attr(SERIES_ATTR, SERIES, use_pyplot=False,
                                                fig_size=(3, 3))
    figure, axes = viz.visualize_timeseries_attr(torch.from_numpy(SERIES_ATTR.T),
                                                 torch.from_numpy(SERIES.T),
                                                 channels_last=False, use_pyplot=False,
                                                 fig_size=(3, 3))
    assert len(axes) == 3
    assert_same_pixels(pixels(figure), pixels(expected))


def test_timeseries_bad_arguments():
    with pytest.raises(ValueError, match="`attr` and `data` must have the same shape"):
        viz.visualize_timeseries_attr(SERIES_ATTR[:5], SERIES, use_pyplot=False)
    with pytest.raises(ValueError, match="`method` must be one of"):
        viz.visualize_timeseries_attr(SERIES_ATTR, SERIES, method="heat_map", use_pyplot=False)
    with pytest.raises(ValueError, match="`channel_labels` must have one label per channel"):
        viz.visualize_timeseries_attr(SERIES_ATTR, SERIES, channel_labels=["a"],
                                      use_pyplot=False)
