"""Summarizer, ClassSummarizer and the statistics: parity with captum 0.9.0."""

import inspect

import captum.attr as captum_attr
import pytest
import torch

import insight_widget.attr as ours_attr
from insight_widget.attr.summary import stat as ours_stat

from .captum_oracle import assert_same

NAMES = ["Summarizer", "CommonStats", "ClassSummarizer", "Mean", "StdDev", "MSE", "Var", "Min",
         "Max", "Sum", "Count", "SummarizerSingleTensor"]


def all_stats(library):
    return [*library.CommonStats(), library.Sum(), library.Count(), library.MSE(),
            library.StdDev(), library.Var(), library.Var(order=3), library.StdDev(order=2),
            library.Mean(name="average"), library.Max(name="peak")]


def snapshot(summary):
    """A copy of a summary (Captum updates some values in place)."""
    return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in summary.items()}


def assert_same_summary(ours, theirs):
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same_summary(a, b)
        return
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        if isinstance(value, torch.Tensor):
            assert_same(ours[key], value, path=key)
        else:
            assert ours[key] == value, key


def parameters(callable_):
    """(name, kind, default) of each parameter (annotations name different classes)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(callable_).parameters.values()]


@pytest.mark.parametrize("name", NAMES)
def test_constructor_and_method_signatures_match_captum(name):
    ours, theirs = getattr(ours_attr, name), getattr(captum_attr, name)
    assert parameters(ours) == parameters(theirs)
    for method in ("update", "get"):
        if hasattr(theirs, method) and inspect.isfunction(getattr(theirs, method)):
            assert parameters(getattr(ours, method)) == parameters(getattr(theirs, method))
    if hasattr(theirs, "summary"):
        assert isinstance(inspect.getattr_static(ours, "summary"), property)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64])
def test_summarizer_matches_captum_for_every_statistic(dtype):
    generator = torch.Generator().manual_seed(0)
    samples = [(10 * torch.randn(3, 4, generator=generator)).to(dtype) for _ in range(7)]
    summaries = []
    for library in (ours_attr, captum_attr):
        summarizer = library.Summarizer(all_stats(library))
        assert summarizer.summary is None
        for index, sample in enumerate(samples):
            summarizer.update(sample)
            if index in (0, 1):  # the first updates (n <= order) have their own dtypes
                summaries.append(snapshot(summarizer.summary))
        summaries.append(snapshot(summarizer.summary))
    for ours, theirs in zip(summaries[:3], summaries[3:]):
        assert_same_summary(ours, theirs)


def test_tuples_and_numbers_match_captum():
    results = []
    for library in (ours_attr, captum_attr):
        per_input = library.Summarizer([library.Mean(), library.Var(order=1), library.Min()])
        numbers = library.Summarizer([library.Mean(), library.Max(), library.Count()])
        for step in range(4):
            per_input.update((torch.full((2,), float(step)), torch.arange(3.0) * step))
            numbers.update(float(step) * 1.5)
        results.append((per_input.summary, numbers.summary))
    assert_same_summary(results[0][0], results[1][0])
    assert_same_summary(results[0][1], results[1][1])


def test_class_summarizer_matches_captum_per_label_and_overall():
    generator = torch.Generator().manual_seed(1)
    batches = [torch.randn(5, 3, generator=generator) for _ in range(4)]
    label_sets = [[0, 1, 1, 2, 0], [2, 2, 2, 2, 2], [1, 0, 1, 0, 1], [0, 0, 0, 0, 0]]
    results = []
    for library in (ours_attr, captum_attr):
        summarizer = library.ClassSummarizer([*library.CommonStats(), library.Count()])
        assert summarizer.summary is None and summarizer.class_summaries == {}
        for batch, labels in zip(batches, label_sets):
            summarizer.update(batch, labels)
        summarizer.update(batches[0], 7)
        results.append((summarizer.summary, summarizer.class_summaries))
    assert_same_summary(results[0][0], results[1][0])
    assert set(results[0][1]) == set(results[1][1]) == {0, 1, 2, 7}
    for label, summary in results[1][1].items():
        assert_same_summary(results[0][1][label], summary)


def test_class_summarizer_tuple_inputs_and_string_labels_match_captum():
    x = (torch.arange(12.0).reshape(4, 3), torch.arange(8.0).reshape(4, 2) * -1)
    results = []
    for library in (ours_attr, captum_attr):
        summarizer = library.ClassSummarizer([library.Mean(), library.Sum()])
        summarizer.update(x, ["cat", "dog", "cat", "cat"])
        results.append((summarizer.summary, summarizer.class_summaries))
    assert_same_summary(results[0][0], results[1][0])
    for label in ("cat", "dog"):
        assert_same_summary(results[0][1][label], results[1][1][label])


def test_tensor_labels_are_grouped_by_value():
    # Captum keys by the label tensors themselves (each example its own entry); ours by value.
    summarizer = ours_attr.ClassSummarizer([ours_attr.Mean(), ours_attr.Count()])
    summarizer.update(torch.tensor([[1.0], [3.0], [5.0]]), torch.tensor([0, 1, 1]))
    summarizer.update(torch.tensor([[2.0]]), torch.tensor(0))
    summaries = summarizer.class_summaries
    assert set(summaries) == {0, 1}
    assert summaries[1][0]["count"] == 2 and summaries[1][0]["mean"].item() == 4.0
    assert summaries[0][0]["count"] == 2 and summaries[0][0]["mean"].item() == 1.5


def test_custom_fold_functions_and_batched_updates_agree_with_single_updates():
    rows = torch.randn(6, 4)
    stats = [ours_attr.Min(min_fn=torch.maximum), ours_attr.Sum(), ours_attr.StdDev(order=1)]
    single = ours_attr.Summarizer(stats)
    for row in rows:
        single.update((row,))
    batched = ours_attr.ClassSummarizer(stats)
    batched.update(rows, 0)
    assert_same_summary(batched.summary, single.summary)
    assert torch.equal(single.summary[0]["min"], rows.amax(0))


def test_statistic_identity_follows_captum():
    assert ours_attr.Mean(name="m") == ours_attr.Mean()
    assert ours_attr.Var(order=1) != ours_attr.Var()
    assert hash(ours_attr.StdDev(order=2)) == hash(ours_attr.StdDev(order=2))
    summarizer = ours_attr.Summarizer([ours_attr.Mean(), ours_attr.Mean(name="second")])
    summarizer.update(torch.ones(2))
    assert list(summarizer.summary) == ["mean"]  # equal statistics are kept once
    single = ours_attr.SummarizerSingleTensor([ours_attr.Count(), ours_attr.Mean()], [1])
    single.update(torch.ones(2) * 3)
    assert list(single.summary) == ["mean"] and single.get(ours_attr.Count()).get() == 1
    assert single.get(ours_attr.Max()) is None


def test_bad_input_is_rejected_with_clear_errors():
    with pytest.raises(TypeError, match="`stats` must hold Stat objects"):
        ours_attr.Summarizer(["mean"])
    summarizer = ours_attr.Summarizer([ours_attr.Mean()])
    summarizer.update(torch.ones(2))
    with pytest.raises(ValueError, match="`x` must keep the form of the first update"):
        summarizer.update((torch.ones(2),))
    with pytest.raises(ValueError, match="`labels` must have one label per example"):
        ours_attr.ClassSummarizer([ours_attr.Mean()]).update(torch.ones(3, 2), [0, 1])
    with pytest.raises(RuntimeError, match="through a Summarizer"):
        ours_stat.Mean().update(torch.ones(2))
    with pytest.raises(ValueError, match="`order` must be an int >= 0"):
        ours_attr.Var(order=-1)
