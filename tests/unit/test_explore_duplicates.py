"""Duplicate groups: exact after normalisation, near by cosine (LSH candidates verified
exactly, compared with brute force), threshold checks, cross-class groups, "keep one, drop
the rest" and "drop the group" as one undoable bulk event each, and the JSON shape."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curation.duplicates import (
    check_threshold,
    compute_duplicate_groups,
    compute_similar_pairs,
    find_duplicate_groups,
    format_groups_json,
    list_group_members,
    normalize_caption_text,
    update_group_decisions,
)
from curation.relevance import decisions
from curation.relevance.specs import CaptionFilter
from tests.relevance_helpers import fill_relevance_db, insert_caption


def _planted(n: int, n_planted: int, seed: int = 0):
    """(n, 32) random unit rows where rows [n - n_planted, n) are near copies (cosine 0.96
    to 0.995) of rows [0, n_planted)."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, 32)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    for i in range(n_planted):
        source, noise = matrix[i], rng.standard_normal(32).astype(np.float32)
        noise -= (noise @ source) * source
        noise /= np.linalg.norm(noise)
        c = rng.uniform(0.96, 0.995)
        matrix[n - n_planted + i] = c * source + np.sqrt(1 - c * c) * noise
    return matrix


def test_normalisation_ignores_case_whitespace_and_punctuation():
    assert normalize_caption_text("  My  DOG, at the beach!! ") == "my dog at the beach"
    assert normalize_caption_text("IMG_1234.jpg") == "img 1234 jpg"
    assert normalize_caption_text("Café\u00a0crème") == "café crème"
    assert normalize_caption_text("...") == ""


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, 1.01, 2, "x", None, float("nan")])
def test_threshold_outside_zero_one_is_refused(bad):
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        check_threshold(bad)
    assert check_threshold(1) == 1.0 and check_threshold("0.9") == 0.9


def test_lsh_pairs_equal_brute_force_above_the_threshold():
    matrix = _planted(3000, 60)
    matrix[100] = matrix[101]  # an identical row
    pairs = compute_similar_pairs(matrix, min_similarity=0.9)
    sims = matrix @ matrix.T
    i, j = np.nonzero(np.triu(sims >= 0.9 - 1e-6, k=1))
    expected = set(zip(i.tolist(), j.tolist(), strict=True))
    found = set(zip(pairs.a.tolist(), pairs.b.tolist(), strict=True))
    assert found <= expected  # every reported pair is verified exactly
    assert len(found & expected) >= 0.95 * len(expected)
    assert (100, 101) in found
    assert np.all(pairs.similarity >= 0.9 - 1e-5)


def _texts(n: int, wnids=None) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "caption_id": np.arange(1, n + 1),
            "wnid": wnids or ["w1"] * n,
            "text": [f"caption number {i}" for i in range(n)],
        }
    )


def test_groups_follow_the_threshold():
    matrix = _planted(400, 20)
    pairs = compute_similar_pairs(matrix, min_similarity=0.9)
    ids = np.arange(1, 401)
    loose = compute_duplicate_groups(_texts(400), pairs=pairs, pair_caption_ids=ids, threshold=0.9)
    strict = compute_duplicate_groups(
        _texts(400), pairs=pairs, pair_caption_ids=ids, threshold=0.999
    )
    assert loose.groups.height == 20 and set(loose.groups["kind"]) == {"near"}
    assert strict.groups.height < loose.groups.height
    with pytest.raises(ValueError, match="below"):
        compute_duplicate_groups(_texts(400), pairs=pairs, pair_caption_ids=ids, threshold=0.5)


def _dup_db(con):
    fill_relevance_db(con, per_class=3)
    a = insert_caption(con, "n01440764", "a.JPEG", "Sunset at the LAKE!", "trip 2008")
    b = insert_caption(con, "n01443537", "b.JPEG", "sunset at the lake", "Trip, 2008")
    c = insert_caption(con, "n01443537", "c.JPEG", "sunset   at the lake", "trip 2008.")
    return a, b, c


def test_exact_groups_span_classes_without_features(con):
    a, b, c = _dup_db(con)
    groups = find_duplicate_groups(con, None)
    group = groups.members.filter(pl.col("caption_id") == a)["group_id"][0]
    members = list_group_members(con, groups, group)
    assert sorted(members["caption_id"].to_list()) == [a, b, c]
    row = groups.groups.filter(pl.col("group_id") == group).row(0, named=True)
    assert row["kind"] == "exact" and row["cross_class"] and row["n_classes"] == 2
    assert "span classes" in groups.summary()
    data = format_groups_json(con, groups)
    first = next(g for g in data if g["group_id"] == group)
    assert set(first["members"][0]) == {"caption_id", "filename", "wnid", "text"}
    assert first["cross_class"] is True
    with pytest.raises(ValueError, match="no duplicate group"):
        list_group_members(con, groups, 10_000)


def test_keep_one_drop_rest_and_drop_group_are_one_undoable_event(con):
    a, b, c = _dup_db(con)
    change = update_group_decisions(con, [a, b, c], keep_caption_id=a, reason="dup", actor="t")
    assert change.n_captions == 2
    assert decisions.list_filtered_caption_ids(con, CaptionFilter(decision="drop")) == [b, c]
    decisions.undo_bulk_event(con, change.bulk_id, actor="t")
    assert decisions.list_filtered_caption_ids(con, CaptionFilter(decision="drop")) == []
    change = update_group_decisions(con, [a, b, c], keep_caption_id=None, reason="dup", actor="t")
    assert change.n_captions == 3
    with pytest.raises(ValueError, match="not in this group"):
        update_group_decisions(con, [a, b], keep_caption_id=c, reason="dup", actor="t")
    with pytest.raises(ValueError, match="Nothing to drop"):
        update_group_decisions(con, [a], keep_caption_id=a, reason="dup", actor="t")
