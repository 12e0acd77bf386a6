"""The dataset job adds no forward pass to methods that evaluate the unperturbed batch: the
prediction and score columns come from the method's own call (datasets/outputs.py)."""

from __future__ import annotations

import pytest
import torch

from insight_widget.attr import (
    Deconvolution,
    DeepLift,
    FeatureAblation,
    GuidedBackprop,
    InputXGradient,
    IntegratedGradients,
    LayerGradCam,
    LayerIntegratedGradients,
    NoiseTunnel,
    Saliency,
)
from insight_widget.datasets import attribute_dataset
from insight_widget.testing import ForwardCounter

from .conftest import loader

OWN_FORWARD = {
    "Saliency": (Saliency, {}),
    "InputXGradient": (lambda m: InputXGradient(m), {}),
    "GuidedBackprop": (GuidedBackprop, {}),
    "Deconvolution": (Deconvolution, {}),
    "DeepLift": (DeepLift, {}),
    "IntegratedGradients+delta": (IntegratedGradients, {"n_steps": 3}),
    "FeatureAblation": (FeatureAblation, {}),
    "LayerGradCam": (lambda m: LayerGradCam(m, m.conv), {}),
}


def _hand_loop(method, x, y, batch_size, delta, **kwargs):
    """The user's loop: the method on each batch with the labels as targets."""
    for start in range(0, x.shape[0], batch_size):
        extra = {"return_convergence_delta": True} if delta else {}
        method.attribute(x[start:start + batch_size], target=y[start:start + batch_size],
                         **extra, **kwargs)


@pytest.mark.parametrize("name", list(OWN_FORWARD))
def test_prediction_and_score_come_from_the_methods_own_forward(model, images, name):
    x, y = images[0][:20], images[1][:20]  # three batches (8, 8, 4)
    make, kwargs = OWN_FORWARD[name]
    method = make(model)
    counter = ForwardCounter(model)
    _hand_loop(method, x, y, 8, method.has_convergence_delta(), **kwargs)
    loop_calls, counter.calls = counter.calls, 0
    summary = attribute_dataset(method, loader(x, y), target="label", progress=False,
                                output=None, **kwargs)
    assert summary.count == 20
    assert counter.calls == loop_calls  # no forward of the job's own
    assert model._forward_hooks.keys() == {counter.handle.id}  # the capture hook is gone


def test_captured_columns_equal_a_separate_forward(model, images, tmp_path):
    x, y = images
    for method, name in ((Saliency(model), "sal"), (DeepLift(model), "dl")):
        store = attribute_dataset(method, loader(x, y), target="label", progress=False,
                                  output=tmp_path / name)
        table = store.examples()
        with torch.no_grad():
            scores, predictions = torch.softmax(model(x), 1).max(1)
        assert table.column("prediction").to_pylist() == predictions.tolist()
        # DeepLift's call has 16 rows (inputs over baselines) where the separate one has 8:
        # the same float32 computation per row, at most a few ulps of reordering apart
        torch.testing.assert_close(torch.tensor(table.column("score").to_numpy()), scores,
                                   rtol=4 * torch.finfo(torch.float32).eps, atol=0.0)


@pytest.mark.parametrize("name", ["training mode", "NoiseTunnel", "LayerIntegratedGradients"])
def test_methods_without_the_models_own_output_get_a_forward_of_their_own(model, images,
                                                                          tmp_path, name):
    """The model in training mode (rows may depend on each other), noisy inputs, a patched
    layer: the method's calls are not the model's output on the batch, so the job runs one
    forward per batch itself and the columns are still right."""
    x, y = images
    method = {"training mode": Saliency(model), "NoiseTunnel": NoiseTunnel(Saliency(model)),
              "LayerIntegratedGradients": LayerIntegratedGradients(model, model.conv)}[name]
    kwargs = {"nt_samples": 2} if name == "NoiseTunnel" else (
        {"n_steps": 2} if name == "LayerIntegratedGradients" else {})
    if name == "training mode":
        model.train()
    counter = ForwardCounter(model)
    attribute_dataset(method, loader(x, y), target="label", progress=False, output=None,
                      predictions=False, **kwargs)
    without, counter.calls = counter.calls, 0
    store = attribute_dataset(method, loader(x, y), target="label", progress=False,
                              output=tmp_path / "s", **kwargs)
    assert counter.calls == without + 7  # one forward per batch of 8 (50 examples)
    with torch.no_grad():
        predictions = model(x).argmax(1)
    assert store.examples().column("prediction").to_pylist() == predictions.tolist()


@pytest.mark.parametrize("name", ["Saliency", "GuidedBackprop", "LayerGradCam"])
def test_the_predicted_class_is_chosen_inside_the_methods_only_forward(model, images,
                                                                       tmp_path, name):
    """target='prediction' (the default): one forward pass per batch where a user's loop
    makes two (one for the predictions, one in the method), and the same numbers."""
    x, y = images
    make = {"Saliency": Saliency, "GuidedBackprop": GuidedBackprop,
            "LayerGradCam": lambda m: LayerGradCam(m, m.conv)}[name]
    method = make(model)
    counter = ForwardCounter(model)
    store = attribute_dataset(method, loader(x, y), output=tmp_path / "s", progress=False)
    assert counter.calls == 7  # batches of 8 over 50 examples
    assert model._forward_hooks.keys() == {counter.handle.id}
    table = store.examples()
    with torch.no_grad():
        scores, predictions = torch.softmax(model(x), 1).max(1)
    assert table.column("prediction").to_pylist() == predictions.tolist()
    assert table.column("target").to_pylist() == predictions.tolist()
    torch.testing.assert_close(torch.tensor(table.column("score").to_numpy()), scores,
                               rtol=0.0, atol=0.0)
    expected = torch.cat([method.attribute(x[i:i + 8], target=predictions[i:i + 8])
                          for i in range(0, 50, 8)])
    assert torch.equal(store.attributions(range(50))[0], expected)


def test_a_model_without_class_scores_takes_the_general_path(images):
    """One value per example: no class to choose, so the general path runs and names the
    problem (target='prediction' needs class scores)."""
    x, y = images
    torch.manual_seed(0)
    regressor = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(108, 1),
                                    torch.nn.Flatten(0)).eval()
    with pytest.raises(RuntimeError, match=r"target='prediction'.*class scores"):
        attribute_dataset(Saliency(regressor), loader(x, y), progress=False)
    assert not regressor._forward_hooks
    summary = attribute_dataset(Saliency(regressor), loader(x, y), target=None,
                                progress=False)
    assert summary.count == 50
