"""Generated and written demo data: deterministic, well-formed, and validated."""

from __future__ import annotations

import pytest
import torch

from insight_widget.examples import sentiment, shapes, shortcut, tabular, vqa
from insight_widget.examples._drawing import COLOURS, draw_scenes


def test_scenes_are_deterministic_in_the_seed_and_differ_across_seeds():
    a, b, c = draw_scenes(16, 3), draw_scenes(16, 3), draw_scenes(16, 4)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert not torch.equal(a.images, c.images)


def test_drawing_leaves_the_global_random_state_alone():
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    shapes.make_dataset(8, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_shapes_dataset_has_the_published_shapes_dtypes_and_range():
    images, labels = shapes.make_dataset(10, seed=0)
    assert images.shape == (10, 3, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (10,) and labels.dtype == torch.long
    assert images.min() >= 0 and images.max() <= 1
    assert set(labels.tolist()) <= set(range(len(shapes.CLASSES)))
    images2, labels2, masks = shapes.make_dataset_with_masks(10, seed=0)
    assert torch.equal(images, images2) and torch.equal(labels, labels2)
    assert masks.shape == (10, 32, 32) and masks.dtype == torch.bool


def test_masks_cover_exactly_the_pixels_painted_in_the_shape_colour():
    scenes = draw_scenes(64, 11, clutter=False)
    palette = torch.tensor(list(COLOURS.values()))
    for image, mask, colour in zip(scenes.images, scenes.masks, scenes.colours):
        inside = image[:, mask].mean(1)
        # jitter 0.08 per channel + pixel noise; the background is dark, the shape is not
        assert (inside - palette[colour]).abs().max() < 0.12
        assert 0.03 < mask.float().mean() < 0.4


def test_normalize_and_denormalize_are_inverse():
    images, _ = shapes.make_dataset(4, seed=0)
    torch.testing.assert_close(shapes.denormalize(shapes.normalize(images)), images)


def test_make_scenes_with_a_forced_colour_repaints_the_same_scenes():
    plain = shapes.make_scenes(8, seed=5)
    blue = shapes.make_scenes(8, seed=5, colour="blue")
    assert torch.equal(plain.masks, blue.masks) and torch.equal(plain.shapes, blue.shapes)
    assert (blue.colours == shapes.COLOURS.index("blue")).all()
    background = ~plain.masks.unsqueeze(1).expand_as(plain.images)
    assert torch.equal(plain.images[background], blue.images[background])


def test_make_scenes_names_the_argument_of_an_unknown_shape_or_colour():
    with pytest.raises(ValueError, match="`colour` must be one of"):
        shapes.make_scenes(2, seed=0, colour="purple")
    with pytest.raises(ValueError, match="`shape` must be one of"):
        shapes.make_scenes(2, seed=0, shape="hexagon")
    with pytest.raises(ValueError, match="n must be >= 0"):
        draw_scenes(-1, 0)


def test_biased_training_scenes_have_no_yellow_circles_and_mostly_yellow_squares():
    scenes = shortcut.make_biased_scenes(2000, seed=1)
    yellow = scenes.colours == shapes.COLOURS.index("yellow")
    assert not yellow[scenes.shapes == shapes.CLASSES.index("circle")].any()
    assert yellow[scenes.shapes == shapes.CLASSES.index("square")].float().mean() > 0.85
    assert yellow[scenes.shapes == shapes.CLASSES.index("triangle")].any()
    images, labels = shortcut.make_biased_dataset(2000, seed=1)
    assert torch.equal(images, scenes.images) and torch.equal(labels, scenes.shapes)


def test_sentiment_corpus_is_balanced_and_split_one_in_five():
    every = sentiment.load_reviews("all")
    train, test = sentiment.load_reviews("train"), sentiment.load_reviews("test")
    assert len(every) == 330 and len(test) == 66 and len(train) == 264
    assert sum(label for _, label in every) == 165
    assert not {t for t, _ in train} & {t for t, _ in test}
    with pytest.raises(ValueError, match="split must be"):
        sentiment.load_reviews("validation")


def test_sentiment_vocabulary_is_the_training_vocabulary_and_round_trips():
    vocab = sentiment.load_vocab()
    rebuilt = sentiment.build_vocab([t for t, _ in sentiment.load_reviews("train")])
    assert vocab == rebuilt
    assert vocab.itos[sentiment.PAD_ID] == "<pad>" and vocab.itos[sentiment.UNK_ID] == "<unk>"
    ids = vocab.encode("Not bad at all!")
    assert ids.shape == (sentiment.MAX_LENGTH,)
    assert vocab.decode(ids) == ["not", "bad", "at", "all", "<unk>"]  # "!" is not in the corpus
    assert vocab.encode_batch([]).shape == (0, sentiment.MAX_LENGTH)


def test_tabular_rows_decode_back_to_their_raw_values():
    table = tabular.make_table(20, seed=3)
    rows = tabular.encode(table)
    assert rows.shape == (20, len(tabular.FEATURES))
    decoded = tabular.decode(rows)
    for i, row in enumerate(decoded):
        assert abs(row["temperature"] - float(table["temperature"][i])) < 0.06
        assert row["weather"] == tabular.CATEGORICAL["weather"][int(table["weather"][i])]
        assert row["day"] == tabular.CATEGORICAL["day"][int(table["day"][i])]


def test_tabular_classes_are_balanced_thirds_and_the_mask_groups_one_hot_columns():
    _, labels = tabular.make_dataset(6000, seed=tabular.TEST_SEED)
    counts = torch.bincount(labels, minlength=3).float() / len(labels)
    assert (counts - 1 / 3).abs().max() < 0.03
    mask = tabular.feature_mask()
    assert mask.shape == (1, len(tabular.FEATURES))
    weather = [i for i, f in enumerate(tabular.FEATURES) if f.startswith("weather=")]
    assert len(set(mask[0, weather].tolist())) == 1
    assert mask.max() + 1 == len(tabular.FEATURE_NAMES)


def test_vqa_answers_are_the_shape_or_the_colour_as_asked():
    images, questions, answers, kinds, texts = vqa.make_dataset_with_types(50, seed=2)
    scenes = shapes.make_scenes(50, seed=2)
    assert torch.equal(images, scenes.images)
    for answer, kind, text, shape, colour in zip(answers, kinds, texts, scenes.shapes,
                                                 scenes.colours):
        if kind == 0:
            assert "shape" in text and answer == shape
        else:
            assert "colour" in text and answer == len(shapes.CLASSES) + colour
    assert questions.shape == (50, vqa.MAX_LENGTH)
