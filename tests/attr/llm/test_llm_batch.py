"""``attribute_batch``: several prompts per call, equal to one call per prompt and to captum.

Tolerances: a prompt's scores come from a padded pass shared with other prompts instead of its
own pass, so float32 log-probabilities (~log V ~ 6) differ by a few ulps (~1e-6) and the
attributions (differences of them) by ~1e-5: atol 2e-5, as for captum's one-row passes in
test_llm_vs_captum.py. Layer IG sums float32 gradients of log-softmax over a few steps through
two layers (magnitudes < 1): atol 1e-5.
"""

from __future__ import annotations

import random
from typing import Any, List

import captum.attr as captum_attr
import numpy as np
import pytest
import torch

import insight_widget.attr as ours_attr
from insight_widget.attr._utils.batching import SavedBytesMeter
from insight_widget.attr.llm import scoring
from insight_widget.attr.llm.scoring import TargetScorer, padded_groups
from insight_widget.testing import ForwardCounter

from .models import BidirectionalLM, CharTokenizer, tiny_tokenizer
from .test_llm_vs_captum import _assert_same

pytest.importorskip("transformers")

PROMPTS = ["the cat sat", "paris is the capital of", "two plus two is four"]
TARGETS = [" on the mat", " france", " and three is"]


def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)


@pytest.fixture(autouse=True)
def padded_passes(monkeypatch):
    """Rows of any lengths share passes, so these tests exercise the padding (on a CPU the
    default shares only rows of equal length; tested last)."""
    monkeypatch.setattr(scoring, "PADDING_SHARE_CPU", 1.0)


def _inputs(lib: Any, tokenizer: Any) -> List[Any]:
    """Token inputs of different lengths and a template (a mix is allowed)."""
    return [lib.TextTokenInput(PROMPTS[0], tokenizer, skip_tokens=["<s>"]),
            lib.TextTemplateInput("{} is the capital of {}", ["paris", "france"]),
            lib.TextTokenInput(PROMPTS[2], tokenizer)]


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("method, kwargs, attr_target", [
    ("FeatureAblation", {}, "log_prob"),
    ("ShapleyValueSampling", {"n_samples": 2}, "prob"),
])
def test_perturbation_batch_equals_single_calls_and_captum(gpt2, llama, arch, method, kwargs,
                                                           attr_target):
    model = gpt2 if arch == "gpt2" else llama
    tokenizer = tiny_tokenizer()
    atol = 2e-5 if attr_target == "log_prob" else 2e-6

    def wrapper(lib: Any) -> Any:
        return lib.LLMAttribution(getattr(lib, method)(model), tokenizer, attr_target=attr_target)

    _seed()
    batch = wrapper(ours_attr).attribute_batch(_inputs(ours_attr, tokenizer), TARGETS, **kwargs)
    _seed()  # the same random draws as the batch: the calls one after another
    single = [wrapper(ours_attr).attribute(inp, target, **kwargs)
              for inp, target in zip(_inputs(ours_attr, tokenizer), TARGETS)]
    _seed()
    captum = [wrapper(captum_attr).attribute(inp, target, use_cached_outputs=False, **kwargs)
              for inp, target in zip(_inputs(captum_attr, tokenizer), TARGETS)]
    assert len(batch) == len(PROMPTS)
    for ours, one, theirs in zip(batch, single, captum):
        _assert_same(ours, one, atol)
        _assert_same(ours, theirs, atol)


def test_perturbed_prompts_of_all_inputs_share_passes_within_the_budget(gpt2):
    tokenizer = tiny_tokenizer()
    wrapper = ours_attr.LLMAttribution(ours_attr.FeatureAblation(gpt2), tokenizer)
    with ForwardCounter(gpt2) as singles:
        single = [wrapper.attribute(inp, t) for inp, t in zip(_inputs(ours_attr, tokenizer),
                                                                TARGETS)]
    with ForwardCounter(gpt2) as shared:
        batch = wrapper.attribute_batch(_inputs(ours_attr, tokenizer), TARGETS)
    # One measured row, then the other (prompt, target) pairs in passes of bounded padding.
    assert shared.calls < singles.calls
    with ours_attr.memory_budget(1), ForwardCounter(gpt2) as tight:
        chunked = wrapper.attribute_batch(_inputs(ours_attr, tokenizer), TARGETS)
    pairs = sum(inp.to_tensor().shape[1] + 1 for inp in _inputs(ours_attr, tokenizer))
    assert tight.calls == pairs  # one row per pass under a 1-byte budget
    for a, b, c in zip(batch, single, chunked):
        _assert_same(a, b, 2e-5)
        _assert_same(c, b, 2e-5)


def test_bidirectional_model_batch_equals_single_calls_and_captum():
    tokenizer, model = CharTokenizer(), BidirectionalLM()
    texts, targets = ["a b c", "d e", "f g h"], ["x y", "z", "x"]

    def inputs(lib: Any) -> List[Any]:
        return [lib.TextTokenInput(t, tokenizer, skip_tokens=[0]) for t in texts]

    ours = ours_attr.LLMAttribution(ours_attr.FeatureAblation(model), tokenizer)
    theirs = captum_attr.LLMAttribution(captum_attr.FeatureAblation(model), tokenizer)
    batch = ours.attribute_batch(inputs(ours_attr), targets)
    for result, inp, target in zip(batch, inputs(captum_attr), targets):
        _assert_same(result, theirs.attribute(inp, target, use_cached_outputs=False), 2e-5)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_layer_integrated_gradients_batch_equals_single_calls_and_captum(gpt2, llama, arch):
    model = gpt2 if arch == "gpt2" else llama
    tokenizer = tiny_tokenizer()

    def wrapper(lib: Any) -> Any:
        return lib.LLMGradientAttribution(
            lib.LayerIntegratedGradients(model, model.get_input_embeddings()), tokenizer)

    def inputs(lib: Any) -> List[Any]:
        return [lib.TextTokenInput(p, tokenizer, skip_tokens=["<s>"]) for p in PROMPTS]

    batch = wrapper(ours_attr).attribute_batch(inputs(ours_attr), TARGETS, n_steps=4)
    single = [wrapper(ours_attr).attribute(inp, t, n_steps=4)
              for inp, t in zip(inputs(ours_attr), TARGETS)]
    captum = [wrapper(captum_attr).attribute(inp, t, n_steps=4)
              for inp, t in zip(inputs(captum_attr), TARGETS)]
    with ours_attr.memory_budget(1):  # one prompt per group, one step per chunk
        grouped = wrapper(ours_attr).attribute_batch(inputs(ours_attr), TARGETS, n_steps=4)
    for ours, one, theirs, apart in zip(batch, single, captum, grouped):
        _assert_same(ours, one, 1e-5)
        _assert_same(ours, theirs, 1e-5)
        _assert_same(apart, one, 1e-5)
    assert all(p.requires_grad for p in model.parameters())  # restored after the call


def test_layer_ig_batch_shares_forward_passes_and_per_prompt_baselines(gpt2):
    tokenizer = tiny_tokenizer()
    wrapper = ours_attr.LLMGradientAttribution(
        ours_attr.LayerIntegratedGradients(gpt2, gpt2.get_input_embeddings()), tokenizer)
    inps = [ours_attr.TextTokenInput(p, tokenizer) for p in PROMPTS]
    baselines = [torch.zeros(1, inp.n_itp_features) for inp in inps]
    baselines[1][0, 0] = 1  # keep the first token of prompt 1
    with ForwardCounter(gpt2) as singles:
        single = [wrapper.attribute(inp, t, n_steps=4, baselines=b)
                  for inp, t, b in zip(inps, TARGETS, baselines)]
    with ForwardCounter(gpt2) as shared:
        batch = wrapper.attribute_batch(inps, TARGETS, n_steps=4, baselines=baselines)
    assert shared.calls < singles.calls  # one measuring forward + one per chunk, all prompts
    for ours, one in zip(batch, single):
        _assert_same(ours, one, 1e-5)
    assert batch[1].token_attr[:, 0].abs().max() == 0  # its baseline is the token itself


def test_gradient_shap_batch_runs_prompt_by_prompt_with_the_same_draws(gpt2):
    tokenizer = tiny_tokenizer()
    wrapper = ours_attr.LLMGradientAttribution(
        ours_attr.LayerGradientShap(gpt2, gpt2.get_input_embeddings()), tokenizer)
    inps = [ours_attr.TextTokenInput(p, tokenizer) for p in PROMPTS[:2]]
    _seed()
    batch = wrapper.attribute_batch(inps, TARGETS[:2], n_samples=3)
    _seed()
    single = [wrapper.attribute(inp, t, n_samples=3) for inp, t in zip(inps, TARGETS[:2])]
    for ours, one in zip(batch, single):
        _assert_same(ours, one, 0.0)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_left_and_right_padding_give_each_row_its_own_scores(gpt2, llama, arch):
    model = gpt2 if arch == "gpt2" else llama
    tokenizer = tiny_tokenizer()
    prompts = [torch.tensor(tokenizer.encode(p)) for p in PROMPTS]
    targets = [torch.tensor(tokenizer.encode(t, add_special_tokens=False)) for t in TARGETS]
    alone = [TargetScorer(model, t).log_probs([p])[0] for p, t in zip(prompts, targets)]
    for side in ("right", "left"):
        shared = TargetScorer(model, targets[0], padding_side=side).score(prompts, targets)
        for a, b in zip(shared, alone):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("call, error, match", [
    (lambda w, inps: w.attribute_batch([]), ValueError, "`inps` must hold at least one"),
    (lambda w, inps: w.attribute_batch(inps[0], " a"), TypeError, "`inps` must be a list"),
    (lambda w, inps: w.attribute_batch(inps, [" a"]), ValueError,
     "`targets` must have one entry per input: 2 inputs, 1 targets"),
    (lambda w, inps: w.attribute_batch(inps, " a b"), TypeError, "`targets` must be None or"),
    (lambda w, inps: w.attribute_batch([inps[0], "the cat"], [" a", " b"]), TypeError,
     r"`inps\[1\]` must be a InterpretableInput"),
])
def test_bad_batches_raise_naming_the_argument(gpt2, call, error, match):
    tokenizer = tiny_tokenizer()
    wrapper = ours_attr.LLMAttribution(ours_attr.FeatureAblation(gpt2), tokenizer)
    inps = [ours_attr.TextTokenInput(p, tokenizer) for p in PROMPTS[:2]]
    with pytest.raises(error, match=match):
        call(wrapper, inps)
    assert wrapper.attr_method.forward_func is gpt2


def test_bad_gradient_batches_raise_naming_the_argument(gpt2):
    tokenizer = tiny_tokenizer()
    wrapper = ours_attr.LLMGradientAttribution(
        ours_attr.LayerIntegratedGradients(gpt2, gpt2.get_input_embeddings()), tokenizer)
    token = ours_attr.TextTokenInput(PROMPTS[0], tokenizer)
    template = ours_attr.TextTemplateInput("{} is", ["paris"])
    with pytest.raises(TypeError, match=r"`inps\[1\]` must be a TextTokenInput"):
        wrapper.attribute_batch([token, template], [" a", " b"])
    with pytest.raises(ValueError, match="`baselines` in attribute_batch must be None or a list"):
        wrapper.attribute_batch([token, token], [" a", " b"], baselines=[torch.zeros(1, 4)])
    assert all(p.requires_grad for p in gpt2.parameters())


def test_saved_bytes_meter_ignores_parameter_views():
    # A strided (1, k, d) batch (the last positions of the hidden states, as an output head
    # gets them) times a frozen weight: matmul saves the weight broadcast to batch 1, whose
    # leading 1 looks like a row; it is the model's memory, not the batch's.
    head = torch.nn.Linear(8, 1000, bias=False).requires_grad_(False)
    x = torch.randn(1, 5, 8, requires_grad=True)[:, 2:]
    with SavedBytesMeter(1) as meter:
        head(x)
    assert meter.bytes < head.weight.numel() * 4


def test_padded_groups_bound_the_padding_and_the_rows(monkeypatch):
    lengths = [5, 30, 29, 12, 28, 30, 6, 11]
    cpu = torch.device("cpu")
    monkeypatch.setattr(scoring, "PADDING_SHARE_CPU", 0.125)
    groups = padded_groups(lengths, cpu, max_rows=3)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for group in groups:
        width = max(lengths[i] for i in group)
        assert sum(width - lengths[i] for i in group) <= 0.125 * width * len(group)
        assert len(group) <= 3
    assert groups[0] == [1, 5, 2]  # longest first
    monkeypatch.setattr(scoring, "PADDING_SHARE_CPU", 0.0)  # the default: no padding on CPU
    assert padded_groups(lengths, cpu) == [[1, 5], [2], [4], [3], [7], [6], [0]]
    assert padded_groups([7, 7, 7, 7], cpu) == [[0, 1, 2, 3]]
    assert scoring.PADDING_SHARE > 0  # other devices share padded passes


def test_sequence_only_methods_batch_equals_single_calls(gpt2):
    # Phase 1 answers zeros: the fitted surrogate of Lime / Kernel SHAP must not mind.
    tokenizer = tiny_tokenizer()
    for method in ("KernelShap", "Lime"):
        wrapper = ours_attr.LLMAttribution(getattr(ours_attr, method)(gpt2), tokenizer)
        _seed()
        batch = wrapper.attribute_batch(_inputs(ours_attr, tokenizer)[:2], TARGETS[:2],
                                        n_samples=12)
        _seed()
        single = [wrapper.attribute(inp, t, n_samples=12)
                  for inp, t in zip(_inputs(ours_attr, tokenizer)[:2], TARGETS[:2])]
        for ours, one in zip(batch, single):
            _assert_same(ours, one, 2e-5)


def test_a_failing_model_leaves_parameters_and_hooks_as_they_were(gpt2):
    tokenizer = tiny_tokenizer()
    layer = gpt2.get_input_embeddings()
    wrapper = ours_attr.LLMGradientAttribution(ours_attr.LayerIntegratedGradients(gpt2, layer),
                                               tokenizer)
    calls = {"n": 0}

    def fail_on_the_second_pass(*_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("model failure")

    handle = gpt2.transformer.register_forward_pre_hook(fail_on_the_second_pass)
    try:
        with pytest.raises(RuntimeError, match="model failure"):
            wrapper.attribute_batch([ours_attr.TextTokenInput(p, tokenizer) for p in PROMPTS],
                                    TARGETS, n_steps=4)
    finally:
        handle.remove()
    assert all(p.requires_grad for p in gpt2.parameters())
    assert not layer._forward_hooks and not gpt2.get_output_embeddings()._forward_hooks
