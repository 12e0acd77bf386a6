"""Sparseness (Gini index) and complexity (entropy) of attributions."""

import math

import numpy as np
import pytest
import torch

import insight_widget.metrics as metrics


def test_one_hot_is_maximally_sparse_and_simple():
    d = 7
    one_hot = torch.zeros(3, d)
    one_hot[torch.arange(3), torch.tensor([0, 3, 6])] = torch.tensor([2.0, -5.0, 0.1])
    assert torch.allclose(metrics.sparseness(one_hot), torch.full((3,), (d - 1) / d))
    assert torch.allclose(metrics.complexity(one_hot), torch.zeros(3))


def test_uniform_magnitudes_are_dense_and_maximally_complex():
    uniform = torch.tensor([[1.0, -1.0, 1.0, 1.0, -1.0]])
    assert torch.allclose(metrics.sparseness(uniform), torch.zeros(1), atol=1e-7)
    assert torch.allclose(metrics.complexity(uniform), torch.tensor([math.log(5)]))


def test_values_match_the_formulas_on_random_attributions_across_tuple_inputs():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 3, 5, generator=generator), torch.randn(4, 6, generator=generator)
    rows = torch.cat([a.reshape(4, -1), b], dim=1).abs().double().numpy()
    sparse = metrics.sparseness((a.double(), b.double())).numpy()
    simple = metrics.complexity((a.double(), b.double())).numpy()
    for row, gini, entropy in zip(rows, sparse, simple):
        ordered = np.sort(row)
        d = ordered.size
        expected = np.sum((2 * np.arange(1, d + 1) - d - 1) * ordered) / (d * ordered.sum())
        shares = row / row.sum()
        assert gini == pytest.approx(expected, rel=1e-12)
        assert entropy == pytest.approx(-np.sum(shares * np.log(shares)), rel=1e-12)


def test_all_zero_attributions_are_undefined():
    assert torch.isnan(metrics.sparseness(torch.zeros(1, 4))).all()
    assert torch.isnan(metrics.complexity(torch.zeros(1, 4))).all()
