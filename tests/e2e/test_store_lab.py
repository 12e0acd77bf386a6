"""A small attribution store browsed in a real JupyterLab in Chromium: open it with
``from_store``, page, filter by class, open the dataset panel; no console error may occur."""

from __future__ import annotations

import pytest

from .notebook_cells import SETUP

pytestmark = pytest.mark.e2e

STORE = SETUP + '''
import tempfile
from insight_widget.attr import Saliency
from insight_widget.datasets import attribute_dataset

path = tempfile.mkdtemp() + "/saliency"
normalised = [Batch(shapes.normalize(b.inputs), b.labels) for b in dataset]
attribute_dataset(Saliency(model), normalised, output=path, classes=list(shapes.CLASSES),
                  progress=False)
stored = AttributionVisualizer.from_store(
    path, [model], list(shapes.CLASSES),
    [ImageFeature("Photo", baseline_transforms=[zeros], input_transforms=[shapes.normalize])],
    dataset, score_func=lambda o: F.softmax(o, 1))
stored.render()
'''

CARDS = 'document.querySelectorAll(\'[data-testid="iw-example"]\')'


def _page_info(page) -> str:
    return page.locator('[data-testid="iw-page-info"]').first.inner_text()


def _idle(page) -> None:
    page.wait_for_function("document.querySelector('[data-testid=iw-root]').dataset.busy"
                           " === 'false'", timeout=60_000)


def test_a_store_is_paged_filtered_and_summarised_in_jupyterlab(jupyter_lab, lab_page,
                                                              artifacts):
    notebook = jupyter_lab.write_notebook("store.ipynb", [STORE])
    lab_page.open_and_run(jupyter_lab, notebook)
    page = lab_page.page
    page.locator('[data-testid="iw-section-store"]').first.wait_for(timeout=90_000)

    page.locator('[data-testid="iw-fetch"]').first.click()  # "Show page": the first page
    page.wait_for_function(f"{CARDS}.length === 12", timeout=60_000)
    _idle(page)
    assert _page_info(page).startswith("page 1 of 6 · 64 of 64")
    assert "stored map" in page.locator('[data-testid="iw-example"] .iw-note').first.inner_text()

    page.locator('[data-testid="iw-page-next"]').first.click()
    page.wait_for_function("(t) => document.querySelector('[data-testid=iw-page-info]')"
                           ".textContent.startsWith(t)", arg="page 2 of 6", timeout=60_000)
    _idle(page)
    assert page.locator('[data-testid="iw-example"] .iw-position').first.inner_text() == "#12"

    label = page.locator('[data-testid="iw-store-label"] option').nth(1) \
        .get_attribute("value")
    page.locator('[data-testid="iw-store-label"]').first.select_option(label)
    page.wait_for_function("(t) => document.querySelector('[data-testid=iw-page-info]')"
                           ".textContent.startsWith(t)", arg="page 1 of", timeout=60_000)
    _idle(page)
    chips = page.locator('[data-testid="iw-example"] [data-testid="iw-label"]').all_inner_texts()
    assert chips and all(chip == f"label: {label}" for chip in chips)

    page.locator('[data-testid="iw-dataset-panel"] summary').first.click()
    page.wait_for_function("document.querySelectorAll('[data-testid=iw-panel-class]').length"
                           " >= 2", timeout=60_000)
    assert page.locator('[data-testid="iw-panel-class"] [data-testid="iw-attribution"]') \
        .count() >= 2
    page.locator('[data-testid="iw-root"]').first.screenshot(path=str(artifacts / "store.png"))
    assert lab_page.errors == []
