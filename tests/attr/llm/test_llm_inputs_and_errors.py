"""Interpretable inputs, results, and bad input to the LLM wrappers (clear errors, model intact)."""

from __future__ import annotations

import random

import matplotlib
import pytest
import torch

import insight_widget.attr as ours

from .models import BidirectionalLM, CharTokenizer, tiny_gpt2, tiny_tokenizer

matplotlib.use("Agg")


def _assert_untouched(model: torch.nn.Module, method) -> None:
    assert method.forward_func is model
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert not model.training


@pytest.fixture(scope="module")
def gpt2():
    return tiny_gpt2(n_positions=16)


def test_template_input_fills_segments_baselines_and_groups():
    inp = ours.TextTemplateInput("{a} likes {b} and {c}", {"a": "ann", "b": "tea", "c": "jam"},
                                 baselines={"a": "bob", "b": "x", "c": "y"},
                                 mask={"a": 0, "b": 1, "c": 1})
    assert inp.to_tensor().shape == (1, 2)
    assert inp.to_model_input() == "ann likes tea and jam"
    assert inp.to_model_input(torch.tensor([[1.0, 0.0]])) == "ann likes x and y"
    torch.testing.assert_close(inp.format_attr(torch.tensor([[0.5, 2.0]])),
                               torch.tensor([[0.5, 2.0, 2.0]]))


def test_product_baselines_draw_each_feature_with_random_choice():
    baselines = ours.ProductBaselines({("a", "b"): [(1, 2), (3, 4)], "c": ["x", "y", "z"]})
    random.seed(3)
    drawn = baselines()
    random.seed(3)
    pair, c = random.choice([(1, 2), (3, 4)]), random.choice(["x", "y", "z"])
    assert drawn == {"a": pair[0], "b": pair[1], "c": c}


def test_token_input_baseline_string_and_skip_tokens():
    tokenizer = tiny_tokenizer()
    inp = ours.TextTokenInput("the cat sat", tokenizer, baselines="<unk>", skip_tokens=["<s>"])
    ids = inp.to_model_input(torch.tensor([[1.0, 0.0, 1.0, 1.0]]))
    assert ids[0, 0] == tokenizer.bos_token_id  # skipped: never replaced
    assert ids[0, 2] == tokenizer.unk_token_id
    assert inp.values == tokenizer.convert_ids_to_tokens(tokenizer.encode("the cat sat"))[1:]


def test_results_plot_and_return_figure_and_axes(gpt2):
    tokenizer = tiny_tokenizer()
    result = ours.LLMAttribution(ours.FeatureAblation(gpt2), tokenizer).attribute(
        ours.TextTokenInput("the cat sat", tokenizer, skip_tokens=["<s>"]), " on the")
    assert result.token_attr.shape == (len(result.output_tokens), 4)
    # FeatureAblation on log-probabilities: the sequence attribution is the rows' sum.
    torch.testing.assert_close(result.seq_attr, result.token_attr.sum(0))
    assert result.output_probs.shape == (len(result.output_tokens),)
    for plot in (result.plot_token_attr, result.plot_seq_attr):
        fig, ax = plot(show=False)
        assert fig is ax.figure
    assert set(result.seq_attr_dict) == set(result.input_tokens)
    with pytest.raises(TypeError, match="ImageMaskInput"):
        result.plot_image_heatmap()


def test_image_mask_input_perturbs_segments_and_plots_heatmap():
    from PIL import Image

    image = Image.new("RGB", (4, 2), (10, 20, 30))
    mask = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1]])
    inp = ours.ImageMaskInput(image, mask=mask, baseline=(0, 0, 0))
    perturbed = inp.to_model_input(torch.tensor([[1.0, 0.0]]))
    pixels = torch.tensor(list(perturbed.getdata())).view(2, 4, 3)
    assert pixels[:, :2].eq(torch.tensor([10, 20, 30])).all() and pixels[:, 2:].eq(0).all()
    torch.testing.assert_close(inp.format_pixel_attr(torch.tensor([[1.0, -2.0]])),
                               torch.tensor([[[1.0, 1.0, -2.0, -2.0]] * 2]))
    result = ours.LLMAttributionResult(input_tokens=inp.values, output_tokens=["a"],
                                       seq_attr=torch.tensor([1.0, -2.0]),
                                       token_attr=torch.tensor([[1.0, -2.0]]), inp=inp)
    fig, ax = result.plot_image_heatmap(target_token_pos=0)
    assert fig is ax.figure


class _NoConvert:
    def encode(self, text, add_special_tokens=True, return_tensors=None):
        return torch.tensor([[1, 2]])


@pytest.mark.parametrize("build, error, match", [
    (lambda m, t: ours.LLMAttribution(ours.FeatureAblation(m), _NoConvert()), TypeError,
     "convert_ids_to_tokens"),
    (lambda m, t: ours.LLMAttribution(ours.FeatureAblation(m), t, attr_target="logit"),
     ValueError, "attr_target"),
    (lambda m, t: ours.LLMAttribution(ours.Saliency(m), t), TypeError, "attr_method"),
    (lambda m, t: ours.TextTokenInput("", t), ValueError, "text"),
    (lambda m, t: ours.TextTokenInput("the cat", t, skip_tokens=["qqq-not-a-token"]),
     ValueError, "skip_tokens"),
    (lambda m, t: ours.TextTemplateInput("{} and {}", ["a"]), ValueError, "placeholders"),
    (lambda m, t: ours.TextTemplateInput("{x} and {y}", {"x": "a", "z": "b"}), ValueError,
     "keys"),
    (lambda m, t: ours.TextTemplateInput("{} and {}", ["a", "b"], baselines=["c"]),
     ValueError, "baselines"),
])
def test_bad_construction_raises_clear_errors(gpt2, build, error, match):
    with pytest.raises(error, match=match):
        build(gpt2, tiny_tokenizer())


@pytest.mark.parametrize("call, error, match", [
    (lambda a, t: a.attribute(ours.TextTokenInput("the cat", t), ""), ValueError, "target"),
    (lambda a, t: a.attribute(ours.TextTokenInput("the cat", t),
                              torch.tensor([], dtype=torch.long)), ValueError, "target"),
    (lambda a, t: a.attribute(ours.TextTokenInput("the cat sat on the mat and the dog", t),
                              " sat on the rug and the cat sat on the mat"),
     ValueError, "context"),
    (lambda a, t: a.attribute("the cat", " sat"), TypeError, "inp"),
    (lambda a, t: a.attribute(ours.TextTokenInput("the cat", t), " sat", num_trials=0),
     ValueError, "num_trials"),
])
def test_bad_attribute_calls_raise_and_leave_the_model_untouched(gpt2, call, error, match):
    tokenizer = tiny_tokenizer()
    method = ours.FeatureAblation(gpt2)
    with pytest.raises(error, match=match):
        call(ours.LLMAttribution(method, tokenizer), tokenizer)
    _assert_untouched(gpt2, method)


def test_gradient_wrapper_rejects_templates_and_long_prompts(gpt2):
    tokenizer = tiny_tokenizer()
    method = ours.LayerIntegratedGradients(gpt2, gpt2.get_input_embeddings())
    wrapper = ours.LLMGradientAttribution(method, tokenizer)
    with pytest.raises(TypeError, match="TextTokenInput"):
        wrapper.attribute(ours.TextTemplateInput("{}", ["a"]), " b")
    with pytest.raises(ValueError, match="context"):
        wrapper.attribute(ours.TextTokenInput("the cat sat on the mat and the dog", tokenizer),
                          " sat on the rug and the cat sat on the mat")
    with pytest.raises(ValueError, match="baselines"):
        wrapper.attribute(ours.TextTokenInput("the cat", tokenizer), " sat",
                          baselines=torch.zeros(1, 9))
    _assert_untouched(gpt2, method)


def test_model_without_generate_needs_a_target():
    class NoGenerate(BidirectionalLM):
        generate = None

    model, tokenizer = NoGenerate(), CharTokenizer()
    method = ours.FeatureAblation(model)
    with pytest.raises(ValueError, match="generate"):
        ours.LLMAttribution(method, tokenizer).attribute(ours.TextTokenInput("a b", tokenizer))
    _assert_untouched(model, method)


def test_model_error_mid_attribution_restores_the_wrapped_method():
    class Failing(BidirectionalLM):
        calls = 0

        def forward(self, input_ids, attention_mask=None, **kwargs):
            Failing.calls += 1
            if Failing.calls > 2:
                raise RuntimeError("model failed")
            return super().forward(input_ids)

    model, tokenizer = Failing(), CharTokenizer()
    method = ours.FeatureAblation(model)
    with pytest.raises(RuntimeError, match="model failed"):
        ours.LLMAttribution(method, tokenizer).attribute(ours.TextTokenInput("a b", tokenizer),
                                                         "x y")
    _assert_untouched(model, method)


def test_perturbed_prompts_share_forward_passes(gpt2):
    tokenizer = tiny_tokenizer()
    calls = []
    handle = gpt2.register_forward_hook(lambda m, i, o: calls.append(1))
    try:
        ours.LLMAttribution(ours.FeatureAblation(gpt2), tokenizer).attribute(
            ours.TextTokenInput("the cat sat", tokenizer), " on the mat")
    finally:
        handle.remove()
    # 5 features + the unperturbed prompt, all target tokens per pass: Captum needs 6 x 3
    # passes; ours stacks the 5 perturbed prompts into one, after the unperturbed pass (whose
    # scores also give the output probabilities).
    assert len(calls) == 2
