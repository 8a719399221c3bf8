"""Dataset builder: the paper's split constraints, sentence selection, skipped captions."""

from __future__ import annotations

import numpy as np
import pytest

from curation.relevance.dataset import (
    build_relevance_dataset,
    compute_caption_text,
    compute_is_non_ascii_heavy,
    compute_sentences,
    compute_split,
    compute_training_pairs,
    compute_word_count,
)
from curation.relevance.specs import DatasetSpec
from tests.relevance_helpers import CLASS_TEXT, NO_DESCRIPTION_WNID, fill_relevance_db


def test_sentences_keep_abbreviations_and_cap_at_max():
    text = "The tench (Tinca tinca) is a fish, e.g. in lakes. Dr. Smith saw one! Is it green? Yes."
    assert compute_sentences(text) == [
        "The tench (Tinca tinca) is a fish, e.g. in lakes.",
        "Dr. Smith saw one!",
        "Is it green?",
        "Yes.",
    ]
    assert compute_sentences(text, max_sentences=2) == [
        "The tench (Tinca tinca) is a fish, e.g. in lakes.",
        "Dr. Smith saw one!",
    ]
    assert compute_sentences("a single gloss without a full stop") == [
        "a single gloss without a full stop"
    ]
    with pytest.raises(ValueError, match="max_sentences"):
        compute_sentences(text, max_sentences=0)


def test_caption_text_and_word_count():
    assert compute_caption_text(" A  cat", "", ["pet", "grey"]) == "A cat pet grey"
    assert compute_word_count("tench") == 1
    assert compute_word_count("") == 0
    assert compute_word_count("музей Берлин") == 2
    assert compute_is_non_ascii_heavy("музей Берлин")
    assert not compute_is_non_ascii_heavy("Berlin museum, Zeughaus")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_split_constraints_on_skewed_class_sizes(seed):
    rng = np.random.default_rng(seed)
    sizes = list(rng.integers(2, 101, size=40)) + [500, 1000, 2]
    wnids = [f"n{i:08d}" for i, n in enumerate(sizes) for _ in range(n)]
    wnids = list(np.asarray(wnids)[rng.permutation(len(wnids))])
    is_test = compute_split(wnids, test_fraction=0.23, seed=seed)
    labels = np.asarray(wnids)
    for i, n in enumerate(sizes):
        n_test = int(is_test[labels == f"n{i:08d}"].sum())
        if n <= 100:
            assert n - n_test >= 0.5 * n, (n, n_test)
            assert n_test >= 0.2 * n, (n, n_test)
        else:
            assert n_test == round(0.23 * n)
    assert 0.20 <= is_test.mean() <= 0.27
    again = compute_split(wnids, test_fraction=0.23, seed=seed)
    assert np.array_equal(is_test, again)


def test_single_caption_class_goes_to_train():
    assert not compute_split(["n00000001"], test_fraction=0.23, seed=0).any()


def test_dataset_skips_short_captions_and_classes_without_description(con):
    fill_relevance_db(con, per_class=10)
    dataset = build_relevance_dataset(con, DatasetSpec())
    report = dataset.report
    assert dataset.class_wnids == tuple(sorted(CLASS_TEXT))
    assert report["n_skipped_short"] == 1
    assert report["classes_without_description"] == [NO_DESCRIPTION_WNID]
    assert report["n_skipped_no_description"] == 3
    assert NO_DESCRIPTION_WNID not in set(dataset.captions["wnid"])
    assert report["n_train_captions"] + report["n_test_captions"] == 40
    # 10 per class: 2 test (>= 20 %), 8 train (>= 50 %)
    assert dataset.per_class["n_test"].to_list() == [2, 2, 2, 2]
    n_sentences = {w: len(compute_sentences(t)) for w, (_, t, _) in CLASS_TEXT.items()}
    assert dataset.sentences["n01484850"] == compute_sentences(CLASS_TEXT["n01484850"][1])
    assert report["n_train_pairs"] == sum(8 * n for n in n_sentences.values())


def test_training_pairs_join_each_caption_with_each_sentence_of_its_class(con):
    fill_relevance_db(con, per_class=6)
    dataset = build_relevance_dataset(con, DatasetSpec(max_sentences=2))
    rows, sentence_ids, flat = compute_training_pairs(dataset)
    assert len(rows) == dataset.report["n_train_pairs"]
    for row, sid in zip(rows, sentence_ids, strict=True):
        wnid = dataset.captions["wnid"][int(row)]
        assert dataset.captions["split"][int(row)] == "train"
        assert flat[sid] in dataset.sentences[wnid]
    pairs = {(int(r), int(s)) for r, s in zip(rows, sentence_ids, strict=True)}
    assert len(pairs) == len(rows)


def test_dataset_without_descriptions_is_a_clear_error(con):
    fill_relevance_db(con, per_class=4)
    con.execute("DELETE FROM active_descriptions")
    with pytest.raises(ValueError, match="active description"):
        build_relevance_dataset(con, DatasetSpec())


def test_max_classes_limits_the_class_set(con):
    fill_relevance_db(con, per_class=4)
    dataset = build_relevance_dataset(con, DatasetSpec(max_classes=2))
    assert dataset.class_wnids == tuple(sorted(CLASS_TEXT))[:2]
    assert set(dataset.captions["wnid"]) == set(dataset.class_wnids)
