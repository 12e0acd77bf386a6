"""attribute_dataset with an LLM attribution method: one prompt per example, seq_attr stored and
summarised per template slot."""

from __future__ import annotations

import pytest
import torch

from insight_widget.attr import FeatureAblation, LLMAttribution, TextTemplateInput, TextTokenInput
from insight_widget.datasets import attribute_dataset

from ..attr.llm.models import tiny_gpt2, tiny_tokenizer

PEOPLE = [("ann", "tea"), ("bob", "jam"), ("cat", "rug"), ("dog", "mat"), ("sun", "sky")]


def _prompts():
    return [(TextTemplateInput("the {} sat on the {}", [a, b]), " and the")
            for a, b in PEOPLE]


def test_prompts_are_attributed_stored_and_summarised_per_slot(tmp_path):
    method = LLMAttribution(FeatureAblation(tiny_gpt2()), tiny_tokenizer())
    store = attribute_dataset(method, _prompts(), output=tmp_path / "s", progress=False)
    expected = torch.stack([method.attribute(inp, target=target).seq_attr.float()
                            for inp, target in _prompts()])
    assert len(store) == 5 and store.manifest["attribution_shapes"] == [[2]]
    assert torch.equal(store.attributions(range(5))[0], expected)
    assert store.examples().column("prediction").null_count == 5
    # float64 mean of five float32 values: float64 rounding
    torch.testing.assert_close(store.summary.overall.signed.mean, expected.double().mean(0),
                               rtol=1e-12, atol=1e-15)
    resumed = attribute_dataset(method, _prompts(), output=tmp_path / "s", resume=True,
                                progress=False)
    assert len(resumed) == 5


def test_prompts_with_other_features_and_bad_data_are_named(tmp_path):
    tokenizer = tiny_tokenizer()
    method = LLMAttribution(FeatureAblation(tiny_gpt2()), tokenizer)
    prompts = [*_prompts()[:2], (TextTokenInput("the cat sat", tokenizer), " on")]
    with pytest.raises(ValueError, match=r"example 2: .*features.*earlier examples had 2"):
        attribute_dataset(method, prompts, output=tmp_path / "s", progress=False)
    with pytest.raises(TypeError, match=r"`data` example 0 must be an InterpretableInput"):
        attribute_dataset(method, ["the cat"], progress=False)
    with pytest.raises(ValueError, match=r"`target` for an LLM.*got int 3"):
        attribute_dataset(method, _prompts(), target=3, progress=False)
    with pytest.raises(ValueError, match="engine='ray' does not take LLM"):
        attribute_dataset(method, _prompts(), engine="ray", progress=False)
