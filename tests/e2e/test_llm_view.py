"""The generation view on the bundled demo LM in a real JupyterLab in Chromium: generate,
attribute with rows streamed per chunk, point at an output token; no console error."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

SETUP = '''
import torch
from insight_widget import LLMAttributionVisualizer
from insight_widget.examples import llm

torch.set_num_threads(1)
visualizer = LLMAttributionVisualizer(llm.load_model(), llm.load_tokenizer(),
                                      prompts=["the capital of france is",
                                               "the opposite of hot is"], max_new_tokens=2)
visualizer.render()
'''


def test_generate_attribute_and_point_at_an_output_token(jupyter_lab, lab_page, artifacts):
    notebook = jupyter_lab.write_notebook("llm_view.ipynb", [SETUP])
    lab_page.open_and_run(jupyter_lab, notebook)
    page = lab_page.page
    testid = lambda name: page.locator(f'[data-testid="{name}"]').first  # noqa: E731
    testid("iw-root").wait_for(timeout=90_000)
    assert testid("iw-llm-prompt").input_value() == "the capital of france is"

    testid("iw-llm-generate").click()
    page.wait_for_function("document.querySelector('[data-testid=iw-llm-target]').value"
                           " === 'paris .'", timeout=30_000)
    testid("iw-llm-rows-per-chunk").fill("1")
    testid("iw-llm-rows-per-chunk").dispatch_event("change")
    testid("iw-method").select_option("Layer Integrated Gradients")
    testid("iw-llm-attribute").click()
    testid("iw-seq-attr").wait_for(timeout=60_000)
    outputs = page.locator('[data-testid="iw-output-token"]').all_inner_texts()
    inputs = page.locator('[data-testid="iw-input-token"]').all_inner_texts()
    assert outputs == ["paris", "."] and inputs == ["the", "capital", "of", "france", "is"]
    assert "Layer Integrated Gradients" in page.locator(".iw-llm-summary").inner_text()

    # the prompt takes the colours of the row under the pointer
    def coloured_by(row: int) -> list:
        page.locator('[data-testid="iw-output-token"]').nth(row).hover()
        values = page.locator('[data-testid="iw-llm-colored"] .iw-token').evaluate_all(
            "spans => spans.map(s => Number(s.dataset.value))")
        cells = page.locator(f'[data-testid="iw-token-matrix"] tr:nth-child({row + 2}) td'
                             ).evaluate_all("tds => tds.map(td => Number(td.dataset.value))")
        assert values == cells and len(values) == 5
        return values

    assert coloured_by(0) != coloured_by(1)
    page.screenshot(path=str(artifacts / "llm_view.png"))

    # a bad setting is reported in the view, which keeps working
    testid("iw-llm-granularity").select_option("words")
    testid("iw-llm-attribute").click()
    testid("iw-error").wait_for(timeout=30_000)
    assert "granularity 'tokens'" in testid("iw-error").inner_text()
    assert not [e for e in lab_page.errors if "insight" in e.lower() or "widget" in e.lower()]


def test_saved_html_shows_the_attribution_offline(browser, tmp_path):
    from insight_widget import LLMAttributionVisualizer
    from insight_widget.examples import llm

    visualizer = LLMAttributionVisualizer(llm.load_model(), llm.load_tokenizer())
    widget = visualizer.widget()
    widget.send = lambda content, buffers=None: None
    widget._on_message(widget, {"type": "attribute", "id": "a", "settings": {
        "method": "Feature Ablation", "prompt": "the opposite of <b>hot</b> is",
        "target": "cold", "rows_per_chunk": 0}}, [])
    assert widget.session.wait(60) and widget.status["state"] == "complete", widget.status
    path = tmp_path / "llm.html"
    visualizer.to_html(path)
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.locator('[data-testid="iw-seq-attr"]').wait_for(timeout=30_000)
    assert page.locator('[data-testid="iw-output-token"]').all_inner_texts() == ["cold"]
    inputs = page.locator('[data-testid="iw-input-token"]').all_inner_texts()
    # the word-level demo tokenizer reads "<b>hot</b>" as "<unk>": shown as text, not markup
    assert inputs == ["the", "opposite", "of", "<unk>", "is"]
    assert page.locator('[data-testid="iw-token-matrix"] unk').count() == 0
    assert page.locator('[data-testid="iw-llm-generate"]').is_disabled()
    assert not errors
    page.close()
