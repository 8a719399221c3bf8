"""Search by meaning: caption features as one normalised matrix, exact cosine ranking
combined with the usual filters, "more like this", bad queries, and search results fed to a
bulk decision (one undoable event)."""

from __future__ import annotations

import numpy as np
import pytest

from curation.relevance import decisions
from curation.relevance.specs import CaptionFilter
from curation.search import (
    MAX_QUERY_CHARS,
    CaptionFeatureSpec,
    check_query,
    compute_top_matches,
    encode_query,
    load_caption_index,
    run_compute_caption_features,
    search_captions,
)
from tests.relevance_helpers import (  # noqa: F401 (fixtures)
    CLASS_TEXT,
    fill_relevance_db,
    insert_caption,
    tiny_encoder_dir,
    torch_single_thread,
)


@pytest.fixture(scope="module")
def tiny(tiny_encoder_dir):  # noqa: F811
    from encoders.loading import compute_encoder_key, load_encoder

    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    return encoder, tokenizer, compute_encoder_key(str(tiny_encoder_dir), encoder)


@pytest.fixture
def indexed(con, tmp_path, tiny, tiny_encoder_dir):  # noqa: F811
    fill_relevance_db(con, per_class=6)
    spec = CaptionFeatureSpec(encoder=str(tiny_encoder_dir), max_length=64, cache_dir=str(tmp_path))
    report = run_compute_caption_features(con, spec)
    index = load_caption_index(con, encoder_key=tiny[2], max_length=64, cache_dir=tmp_path)
    return con, index, report


@pytest.mark.parametrize("query", ["", "   ", None, "x" * 100_000])
def test_bad_queries_are_refused_with_a_clear_message(query):
    with pytest.raises(ValueError, match="empty|characters"):
        check_query(query)
    assert check_query("  night  ") == "night"
    assert len(check_query("y" * MAX_QUERY_CHARS)) == MAX_QUERY_CHARS


def test_top_matches_are_the_exact_cosine_ranking():
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((500, 16)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    query = matrix[7]
    rows, scores = compute_top_matches(matrix, query, top_k=10)
    expected = np.argsort(-(matrix @ query), kind="stable")[:10]
    assert rows.tolist() == expected.tolist() and rows[0] == 7
    assert np.allclose(scores, (matrix @ query)[expected])
    subset = np.arange(100, 200)
    rows, _ = compute_top_matches(matrix, query, rows=subset, top_k=5)
    assert set(rows.tolist()) <= set(subset.tolist())


def test_index_before_features_counts_every_caption_missing(con, tmp_path, tiny):
    fill_relevance_db(con, per_class=3)
    index = load_caption_index(con, encoder_key=tiny[2], max_length=64, cache_dir=tmp_path)
    total = con.execute("SELECT count(*) FROM captions").fetchone()[0]
    assert index.size == 0 and index.n_missing == total
    with pytest.raises(ValueError, match="no cached feature"):
        index.vector_of(1)


def test_features_job_fills_the_index_and_is_unit_norm(indexed):
    con, index, report = indexed
    total = con.execute("SELECT count(*) FROM captions").fetchone()[0]
    assert index.size == total and index.n_missing == 0 and report["n_new"] > 0
    assert np.allclose(np.linalg.norm(index.matrix, axis=1), 1.0, atol=1e-5)


def test_search_ranks_a_class_first_and_combines_with_filters(indexed, tiny):
    con, index, _ = indexed
    encoder, tokenizer, _ = tiny
    wnid = "n01443537"
    query = encode_query(encoder, tokenizer, "orange goldfish bowl aquarium pet", max_length=64)
    results = search_captions(con, index, query, top_k=5)
    assert results.height == 5 and results["rank"].to_list() == [1, 2, 3, 4, 5]
    assert results["similarity"].is_sorted(descending=True)
    assert results["wnid"].to_list().count(wnid) >= 3
    only = search_captions(con, index, query, caption_filter=CaptionFilter(wnid="n01440764"))
    assert set(only["wnid"].to_list()) == {"n01440764"}
    text = search_captions(con, index, query, caption_filter=CaptionFilter(search="hammer"))
    assert text.height == 3 and all("hammer" in t for t in text["title"].to_list())


def test_more_like_this_excludes_the_caption_and_finds_its_twin(
    indexed,
    tiny,
    tmp_path,
    tiny_encoder_dir,  # noqa: F811
):
    con, index, _ = indexed
    first = insert_caption(con, "n01484850", "twin_a.JPEG", "Jaws at the reef", "big teeth")
    second = insert_caption(con, "n01491361", "twin_b.JPEG", "jaws at the reef!", "Big teeth")
    spec = CaptionFeatureSpec(encoder=str(tiny_encoder_dir), max_length=64, cache_dir=str(tmp_path))
    assert run_compute_caption_features(con, spec)["n_new"] == 2
    index = load_caption_index(con, encoder_key=tiny[2], max_length=64, cache_dir=tmp_path)
    results = search_captions(con, index, index.vector_of(first), top_k=3, exclude=(first,))
    assert first not in results["caption_id"].to_list()
    assert results["caption_id"][0] == second


def test_decision_filter_and_search_results_as_one_undoable_bulk_event(indexed, tiny):
    con, index, _ = indexed
    encoder, tokenizer, _ = tiny
    query = encode_query(encoder, tokenizer, "stripes tropical reef", max_length=64)
    ids = tuple(search_captions(con, index, query, top_k=4)["caption_id"].to_list())
    change = decisions.update_decisions_bulk(
        con, CaptionFilter(caption_ids=ids), decision="drop", reason="off topic", actor="t"
    )
    assert change.n_captions == 4
    dropped = search_captions(con, index, query, caption_filter=CaptionFilter(decision="drop"))
    assert sorted(dropped["caption_id"].to_list()) == sorted(ids)
    assert set(dropped["decision"].to_list()) == {"drop"}
    undecided = decisions.list_filtered_caption_ids(con, CaptionFilter(decision="none"))
    assert not set(ids) & set(undecided)
    decisions.undo_bulk_event(con, change.bulk_id, actor="t")
    assert decisions.list_filtered_caption_ids(con, CaptionFilter(decision="drop")) == []


def test_caption_filter_refuses_an_unknown_decision():
    with pytest.raises(ValueError, match="decision"):
        CaptionFilter(decision="maybe")
    assert "3 chosen captions" in CaptionFilter(caption_ids=(1, 2, 3)).describe()
