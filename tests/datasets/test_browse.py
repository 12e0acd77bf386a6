"""Browsing a store: filters, sorting by a per-example statistic, paging, the class panel."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from insight_widget.attr import Saliency
from insight_widget.datasets import attribute_dataset
from insight_widget.datasets.browse import StoreBrowser, plot_class_summaries

from .conftest import CLASSES, loader


def test_filter_sort_and_page(model, images, tmp_path):
    x, y = images
    store = attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "s",
                              classes=CLASSES, progress=False)
    maps = torch.cat([Saliency(model).attribute(x[i:i + 8], target=model(x[i:i + 8]).argmax(1))
                      for i in range(0, 50, 8)])
    centre = torch.zeros(6, 6, dtype=torch.bool)
    centre[2:4, 2:4] = True
    outside = {"outside_share": lambda a: float(a.abs().sum((0,))[~centre].sum() / a.abs().sum())}
    browser = StoreBrowser(store, statistics=outside, batch_size=16)
    assert len(browser) == 50 and browser.ids() == list(range(50))
    predictions = model(x).argmax(1)
    wrong = browser.filter(correct=False)
    assert wrong.ids() == [i for i in range(50) if predictions[i] != y[i]]
    assert browser.filter(label=2).ids() == [i for i in range(50) if y[i] == 2]
    expected_share = maps.abs().sum(1)[:, ~centre].sum(1) / maps.abs().sum((1, 2, 3))
    ranked = browser.sort("outside_share", descending=True)
    assert ranked.ids() == expected_share.argsort(descending=True, stable=True).tolist()
    mostly_outside = browser.filter(where=lambda c: c["outside_share"] > 0.9)
    assert mostly_outside.ids() == [i for i in range(50) if expected_share[i] > 0.9]
    page = ranked.page(1, size=7)
    assert [row["id"] for row in page] == ranked.ids()[7:14]
    torch.testing.assert_close(page[0]["attributions"][0], maps[page[0]["id"]])
    assert ranked.pages(7) == 8 and ranked.page(8, size=7) == []
    with pytest.raises(ValueError, match="`by`"):
        browser.sort("colour")


def test_class_summary_panel(model, images, tmp_path):
    x, y = images
    store = attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "s",
                              classes=CLASSES, progress=False)
    figure = plot_class_summaries(store)
    assert len(figure.axes) == len(store.summary.per_class)
    assert figure.axes[0].get_title().startswith(CLASSES[min(store.summary.per_class)])
