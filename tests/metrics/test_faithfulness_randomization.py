"""Faithfulness correlation and the cascading parameter-randomisation sanity check."""

import pytest
import torch
from torch import nn

import insight_widget.metrics as metrics
from insight_widget.attr import IntegratedGradients, Saliency


def test_faithfulness_is_one_for_linear_model_and_exact_contributions():
    torch.manual_seed(0)
    model = nn.Linear(20, 1)
    x, reference = torch.randn(4, 20), torch.randn(1, 20)
    exact = model.weight.detach() * (x - reference)
    result = metrics.faithfulness_correlation(model, x, exact, baselines=reference,
                                              n_subsets=30, subset_size=5)
    assert torch.allclose(result.correlation, torch.ones(4), atol=1e-5)
    assert torch.allclose(result.attribution_sums, result.output_drops, atol=1e-5)
    shuffled = metrics.faithfulness_correlation(model, x, exact[:, torch.randperm(20)],
                                                baselines=reference, n_subsets=30,
                                                subset_size=5)
    assert bool((shuffled.correlation < 0.99).all())


def test_faithfulness_subsets_follow_the_generator_and_not_the_chunking():
    model = nn.Sequential(nn.Linear(10, 8), nn.Tanh(), nn.Linear(8, 3)).eval()
    x = torch.randn(3, 10)
    attributions = torch.randn(3, 10)
    first = metrics.faithfulness_correlation(model, x, attributions, n_subsets=12,
                                             generator=torch.Generator().manual_seed(3))
    second = metrics.faithfulness_correlation(model, x, attributions, n_subsets=12,
                                              max_examples_per_batch=4,
                                              generator=torch.Generator().manual_seed(3))
    assert torch.allclose(first.output_drops, second.output_drops, atol=1e-6)
    assert torch.equal(first.attribution_sums, second.attribution_sums)
    assert first.correlation.shape == (3,) and first.output_drops.shape == (3, 12)


def test_faithfulness_rejects_impossible_subsets():
    with pytest.raises(ValueError, match="`subset_size` must be at most the number of features"):
        metrics.faithfulness_correlation(nn.Linear(4, 1), torch.randn(2, 4), torch.randn(2, 4),
                                         subset_size=5)
    with pytest.raises(ValueError, match="n_subsets"):
        metrics.faithfulness_correlation(nn.Linear(4, 1), torch.randn(2, 4), torch.randn(2, 4),
                                         n_subsets=1)


class OutOfOrder(nn.Module):
    """Registers its layers in a different order from the one the forward pass uses."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(16, 3)
        self.middle = nn.Linear(16, 16)
        self.stem = nn.Linear(8, 16)
        self.act1, self.act2 = nn.Tanh(), nn.Tanh()

    def forward(self, x):
        return self.head(self.act2(self.middle(self.act1(self.stem(x)))))


def test_randomisation_goes_from_logits_down_and_similarity_drops():
    torch.manual_seed(0)
    model = OutOfOrder().eval()
    x = torch.randn(16, 8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = metrics.model_parameter_randomization(model, Saliency, x, target=0)
    assert result.layers == ("head", "middle", "stem")
    assert result.correlation.shape == (3, 16)
    # Saliency depends on the parameters: once the head is random its ranking is unrelated.
    assert bool((result.correlation.mean(1) < 0.5).all())
    # An "explanation" that ignores the model passes through unchanged: correlation 1.
    blind = metrics.model_parameter_randomization(model, lambda m, inputs: inputs * 2, x,
                                                  layers=["head", "middle", "stem"])
    assert torch.allclose(blind.correlation, torch.ones(3, 16))
    for key, value in model.state_dict().items():  # the user's model is untouched
        assert torch.equal(value, before[key])


def test_randomisation_is_seeded_and_accepts_callables_and_explicit_layers():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 2)).eval()
    x = torch.randn(5, 6)

    def explain(m, inputs, target):
        return IntegratedGradients(m).attribute(inputs, target=target, n_steps=8)

    first = metrics.model_parameter_randomization(model, explain, x, target=1, seed=7,
                                                  return_attributions=True)
    again = metrics.model_parameter_randomization(model, explain, x, target=1, seed=7)
    assert torch.equal(first.correlation, again.correlation)
    assert len(first.attributions) == 2 and first.attributions[0].shape == x.shape
    only_first = metrics.model_parameter_randomization(model, explain, x, layers=[model[0]],
                                                       target=1, absolute=False)
    assert only_first.layers == ("0",) and only_first.correlation.shape == (1, 5)


def test_randomisation_bad_arguments():
    with pytest.raises(TypeError, match=r"`model` must be a torch\.nn\.Module"):
        metrics.model_parameter_randomization(lambda x: x, Saliency, torch.randn(2, 3))
    with pytest.raises(TypeError, match="`explain` must be"):
        metrics.model_parameter_randomization(nn.Linear(3, 1), 5, torch.randn(2, 3))
    with pytest.raises(ValueError, match="`layer` 'nope' is not a submodule"):
        metrics.model_parameter_randomization(nn.Linear(3, 1), Saliency, torch.randn(2, 3),
                                              layers=["nope"])
