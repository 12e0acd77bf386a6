"""Dataset-level metrics over a store equal the metrics computed batch by batch by hand."""

from __future__ import annotations

import pytest
import torch

from insight_widget.attr import Saliency
from insight_widget.datasets import attribute_dataset, evaluate_store, mean_metrics
from insight_widget.datasets.evaluate import gaussian_perturbation
from insight_widget.metrics import deletion, infidelity

from .conftest import loader


def test_metrics_of_the_stored_maps_equal_the_hand_computed_ones(model, images, tmp_path):
    x, y = images
    store = attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "s",
                              target="label", progress=False)
    torch.manual_seed(5)
    values = evaluate_store(store, Saliency(model), loader(x, y),
                            metrics=("infidelity", "deletion"))
    assert values["id"].tolist() == list(range(50))
    torch.manual_seed(5)
    expected_infidelity, expected_deletion = [], []
    for inputs, labels in loader(x, y):  # a DataLoader draws a seed: iterate one here too
        maps = Saliency(model).attribute(inputs, target=labels)
        expected_infidelity.append(infidelity(model, gaussian_perturbation, inputs, maps,
                                              target=labels))
        expected_deletion.append(deletion(model, inputs, maps, target=labels).auc)
    # the stored maps are the float32 maps: the same numbers
    torch.testing.assert_close(values["infidelity"], torch.cat(expected_infidelity))
    torch.testing.assert_close(values["deletion"], torch.cat(expected_deletion))
    means = mean_metrics(values)
    assert set(means) == {"infidelity", "deletion"}
    with pytest.raises(ValueError, match="metrics"):
        evaluate_store(store, Saliency(model), loader(x, y), metrics=("accuracy",))


def test_sensitivity_and_insertion_leave_out_skipped_examples(model, images, tmp_path):
    x, y = images
    x = x.clone()
    x[3, 0, 0, 0] = 77.0
    model.fail_on = 77.0
    with pytest.warns(RuntimeWarning):
        store = attribute_dataset(Saliency(model), loader(x, y), output=tmp_path / "s",
                                  target="label", progress=False, on_error="skip")
    model.fail_on = None
    values = evaluate_store(store, Saliency(model), loader(x, y),
                            metrics=("sensitivity", "insertion"), n_perturb_samples=2)
    assert values["id"].tolist() == list(range(8, 50))
    assert values["sensitivity"].shape == (42,) and torch.all(values["sensitivity"] >= 0)
    assert torch.all((values["insertion"] >= 0) & (values["insertion"] <= 1))
