"""The bundled LLM demo: small, shipped with its text and tokenizer, and it learned the facts
that its attributions are meant to reveal."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from insight_widget.attr import FeatureAblation, LLMAttribution, TextTokenInput
from insight_widget.examples import llm
from insight_widget.examples._weights import weights_path


@pytest.fixture(scope="module")
def demo():
    return llm.load_model(), llm.load_tokenizer()


def test_demo_ships_weights_text_and_tokenizer_of_a_few_megabytes_at_most():
    assert weights_path(llm.WEIGHTS).stat().st_size < 3 << 20
    assert llm.CORPUS_PATH.exists() and llm.TOKENIZER_PATH.exists()
    assert len(llm.load_corpus()) > 200


def test_demo_completes_the_facts_of_its_corpus(demo):
    model, tokenizer = demo
    capitals = [llm.complete(model, tokenizer, f"the capital of {country} is") == city
                for country, city in llm.CAPITALS]
    opposites = [llm.complete(model, tokenizer, f"the opposite of {word} is") == opposite
                 for word, opposite in llm.OPPOSITES]
    assert sum(capitals) >= 9 and sum(opposites) >= 7


def test_the_answer_is_attributed_to_the_country(demo):
    """Ablating the country costs the answer more than ablating any other content word (and,
    for most countries, more than ablating "is", which is also needed for an answer to follow)."""
    model, tokenizer = demo
    attribution = LLMAttribution(FeatureAblation(model), tokenizer)
    country_first = 0
    for country, city in llm.CAPITALS:
        inp = TextTokenInput(f"the capital of {country} is", tokenizer, baselines="<unk>",
                             skip_tokens=["<s>"])
        values = dict(zip(inp.values, attribution.attribute(inp, city).seq_attr.tolist()))
        assert values[country] > max(values["the"], values["capital"], values["of"]) + 1.0
        country_first += values[country] == max(values.values())
    assert country_first >= 7
