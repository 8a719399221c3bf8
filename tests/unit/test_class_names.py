"""Which classes a caption names (curation/relevance/class_names.py)."""

from __future__ import annotations

import numpy as np
import pytest

from curation.relevance import class_names

LEMMAS = [
    "tiger shark, Galeocerdo cuvieri",  # row 0
    "tiger, Panthera tigris",  # row 1
    "Siberian husky, husky",  # row 2
    "malamute, malemute, Alaskan malamute",  # row 3
    "crane",  # row 4: the bird
    "crane",  # row 5: the machine (same lemma)
    "great white shark, white shark, man-eater",  # row 6
]
INDEX = class_names.build_class_name_index(LEMMAS)


def _mentions(texts, labels):
    return class_names.compute_name_mentions(texts, np.asarray(labels), INDEX)


def test_the_longest_phrase_wins_so_tiger_shark_does_not_name_the_tiger():
    found = _mentions(["a tiger shark near the reef"], [0])
    assert found["names_own"][0] == 1.0 and found["names_other"][0] == 0.0


def test_a_caption_naming_only_another_class_is_flagged_with_that_class():
    found = _mentions(["two Huskies pulling a sled", "my malamute"], [3, 3])
    assert found["names_own"].tolist() == [0.0, 1.0]
    assert found["names_other"].tolist() == [1.0, 0.0]
    assert found["named_other"][0] == [2]  # the plural matched the husky's lemma


def test_a_lemma_shared_by_two_classes_counts_as_the_own_class():
    found = _mentions(["a crane on the river bank"], [4])
    assert found["names_own"][0] == 1.0 and found["names_other"][0] == 0.0


def test_punctuation_separates_words_and_partial_words_do_not_match():
    found = _mentions(["a man eater!", "tigers", "a tigerish mood", "white-shark"], [6, 1, 1, 6])
    assert found["names_own"].tolist() == [1.0, 1.0, 0.0, 1.0]


def test_huge_or_odd_text_is_data_and_the_lengths_must_agree():
    huge = "husky " * 1_000_000 + "<script>alert(1)</script>"
    found = _mentions([huge, "", "\x00\n\t"], [3, 3, 3])
    assert found["names_other"].tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="2 labels for 3 caption texts"):
        class_names.compute_name_mentions(["a", "b", "c"], np.array([0, 1]), INDEX)


def test_the_review_reason_names_the_catalog_classes_a_caption_names(tmp_path):
    from curation.catalog import seed_imagenet1k
    from db.connect import connect
    from ui.relevance_panels import describe_named_classes

    con = connect(tmp_path / "wb.duckdb")
    seed_imagenet1k(con)
    row = {"wnid": "n02110063", "title": "Our husky in the snow", "description": "", "tags": []}
    reason = describe_named_classes(con, row)  # filed as a malamute
    assert reason.startswith("The caption does not name its own class; it names ")
    assert reason.endswith("Eskimo dog (n02109961).")  # WordNet: 'Eskimo dog, husky'
    row["title"] = "the malamute and a Siberian husky"
    assert describe_named_classes(con, row).startswith("The caption names its own class; it")
    row["title"] = "IMG_2041.JPG"
    assert describe_named_classes(con, row) == "The caption names no class of the catalog."
