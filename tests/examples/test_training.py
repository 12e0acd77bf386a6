"""Retraining the demo models: deterministic, written where loading looks, driven by a CLI."""

from __future__ import annotations

import pytest
import torch

from insight_widget.examples import _weights, tabular, train
from insight_widget.examples._training import accuracy, fit


def _tiny_tabular_fit(seed: int) -> dict:
    torch.manual_seed(seed)
    model = tabular.TabularNet()
    rows, labels = tabular.make_dataset(512, seed=1)
    fit(model, lambda epoch: ((rows,), labels), epochs=2, batch_size=64, seed=seed, log=None)
    return model.state_dict()


def test_fit_is_deterministic_and_restores_the_global_random_state():
    first = _tiny_tabular_fit(0)
    second = _tiny_tabular_fit(0)
    for name in first:
        torch.testing.assert_close(first[name], second[name], rtol=0, atol=0)

    model = tabular.TabularNet()  # (building it draws initial weights from the global RNG)
    rows, labels = tabular.make_dataset(64, seed=1)
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    fit(model, lambda epoch: ((rows,), labels), epochs=1, seed=3, log=None)
    assert torch.equal(torch.rand(2), expected)


def test_train_writes_weights_that_load_model_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(_weights, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(tabular, "TRAIN_SIZE", 3000)  # a quick epoch; the schedule is the same
    lines = []
    model = tabular.train(epochs=2, log=lines.append)
    assert (tmp_path / "tabular.pt").exists()
    assert any("held-out accuracy" in line for line in lines)
    loaded = tabular.load_model()
    assert not loaded.training
    rows, labels = tabular.make_dataset(1000, seed=tabular.TEST_SEED)
    assert accuracy(loaded, (rows,), labels) == accuracy(model, (rows,), labels)
    assert accuracy(loaded, (rows,), labels) > 0.5  # two short epochs beat chance (1/3)


def test_missing_weights_say_how_to_retrain(tmp_path, monkeypatch):
    monkeypatch.setattr(_weights, "WEIGHTS_DIR", tmp_path)
    retrain = r"python -m insight_widget\.examples\.train tabular"
    with pytest.raises(FileNotFoundError, match=retrain):
        tabular.load_model()


def test_train_cli_runs_the_named_models_once_each(monkeypatch):
    calls = []
    monkeypatch.setattr(tabular, "train", lambda: calls.append("tabular"))
    threads = torch.get_num_threads()
    try:
        assert train.main(["tabular", "tabular", "--threads", "1"]) == ["tabular"]
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert calls == ["tabular"]


def test_train_cli_rejects_no_model_and_unknown_models(capsys):
    with pytest.raises(SystemExit):
        train.main([])
    assert "--all" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(["imagenet"])
    assert "invalid choice" in capsys.readouterr().err
