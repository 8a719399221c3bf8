"""Text statistics: the vectorized build equals the NLTK loop; the paper's definition by hand."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from extension.text.stats import (
    compute_reference_counts,
    compute_text_stats,
    compute_text_vector,
    compute_token_counts,
    tokenize_reference,
)
from extension.text.store import get_text_stats_state, load_text_stats, run_build_text_stats

SAMPLES = [
    ("n1", "A Tabby CAT sat on the mat, the cat's tail (a long one) twitched!"),
    ("n1", "Café naïve x2 foo_bar K²ab e-mail co-op O'Neil 3cats cats3 ÉCOLE"),
    ("n2", "dog-dog  DOG\tdog\nwoof... 1990s snow_dog İstanbul ſtraße"),
    ("n2", ""),
    ("n3", "the quick brown fox; jumps over 2 lazy dogs -- über-fast, Ω omega a b c"),
]


def _frame(rows):
    return pl.DataFrame(rows, schema=["wnid", "text"], orient="row")


def test_reference_tokenizer_rules():
    assert tokenize_reference("A Tabby CAT's x2 foo_bar café Ok!") == ["tabby", "cat", "ok"]


def test_vectorized_counts_equal_the_nltk_loop():
    expected = compute_reference_counts(SAMPLES)
    got = compute_token_counts(_frame(SAMPLES))
    as_dict: dict = {}
    for wnid, token, count in got.iter_rows():
        as_dict.setdefault(wnid, {})[token] = count
    assert as_dict == {w: c for w, c in expected.items() if c}


def test_values_drop_frequent_tokens_and_divide_by_examples():
    rows = [
        ("a", "red apple"),
        ("a", "red red"),  # 2 examples
        ("b", "red car"),  # 1 example
        ("c", "blue car"),
        ("c", ""),
        ("c", "sky"),  # 3 examples
    ]
    stats = compute_text_stats(_frame(rows), max_class_fraction=0.6)
    # 'red' is in 2 of 3 classes (0.67 > 0.6): dropped; 'car' 2/3 too; the rest stay.
    assert stats.vocab == ("apple", "blue", "sky")
    assert stats.wnids == ("a", "b", "c")
    assert list(stats.n_examples) == [2, 1, 3]
    dense = stats.to_sparse().to_dense().numpy()
    np.testing.assert_allclose(dense, [[0.5, 0, 0], [0, 0, 0], [0, 1 / 3, 1 / 3]])


def test_default_fraction_is_strictly_more_than_ninety_percent():
    rows = [(f"c{i}", "common") for i in range(9)] + [("c9", "other")]
    assert "common" in compute_text_stats(_frame(rows)).vocab  # exactly 90 %: kept
    rows = [(f"c{i}", "common") for i in range(10)] + [("c10", "other")]
    assert "common" not in compute_text_stats(_frame(rows)).vocab  # 10/11 = 91 %: dropped


def test_text_vector_in_vocabulary_and_no_usable_tokens():
    stats = compute_text_stats(
        _frame([("a", "red apple"), ("b", "green car")]), max_class_fraction=1.0
    )
    vec = compute_text_vector(stats, ["red red apple zebra", "apple"])
    assert dict(zip(stats.vocab, vec.tolist(), strict=True)) == {
        "apple": 1.0,
        "car": 0.0,
        "green": 0.0,
        "red": 1.0,
    }
    with pytest.raises(ValueError, match="no usable tokens"):
        compute_text_vector(stats, ["42 !!! zebra x"])
    with pytest.raises(ValueError, match="description"):
        compute_text_vector(stats, ["  "])


def _insert_texts(con, captions, descriptions):
    for i, (wnid, title, desc, tags) in enumerate(captions):
        con.execute(
            "INSERT INTO captions (source, filename, wnid, title, description, tags) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ["test", f"f{i}_{wnid}.jpg", wnid, title, desc, tags],
        )
    for wnid, text in descriptions:
        con.execute(
            "INSERT INTO active_descriptions "
            "(wnid, source, text, revision, updated_by, updated_at) "
            "VALUES (?, 'manual', ?, 1, 'test', current_timestamp)",
            [wnid, text],
        )


def test_db_build_joins_fields_counts_descriptions_and_rebuilds_on_change(catalog_con):
    con = catalog_con
    _insert_texts(
        con,
        [
            ("n01440764", "Tench fish", "a green fish", ["lake", "fish"]),
            ("n01443537", "goldfish bowl", "", []),
        ],
        [("n01440764", "A freshwater fish."), ("n01443537", "Small orange fish.")],
    )
    first = run_build_text_stats(con)
    assert first["rebuilt"] and first["n_classes"] == 2 and first["n_examples"] == 4
    stats, _ = load_text_stats(con)
    row = stats.row_index()["n01440764"]
    dense = stats.to_sparse().to_dense()[row]
    values = dict(zip(stats.vocab, dense.tolist(), strict=True))
    # tench: examples = 1 caption + 1 description; 'fish' appears 3 times, 'lake' once.
    assert values["lake"] == pytest.approx(0.5)
    assert "fish" not in values  # in both classes (100 % > 90 %): dropped
    assert run_build_text_stats(con)["rebuilt"] is False
    con.execute("UPDATE active_descriptions SET text = 'A river fish.' WHERE wnid = 'n01440764'")
    assert get_text_stats_state(con) == "stale"
    assert load_text_stats(con)[1]["build_id"] == first["build_id"]  # the stale build, as it is
    again = run_build_text_stats(con)
    assert again["rebuilt"] and again["build_id"] > first["build_id"]
    assert con.execute("SELECT count(DISTINCT build_id) FROM text_stat_values").fetchall() == [(1,)]


def test_db_build_without_texts_is_a_clear_error(catalog_con):
    with pytest.raises(ValueError, match="No class texts"):
        run_build_text_stats(catalog_con)


def test_class_table1_from_the_store(catalog_con):
    from extension.text.store import compute_class_table1
    from tests.extension_helpers import insert_texts

    insert_texts(catalog_con)
    with pytest.raises(ValueError, match="not built yet"):  # a read never builds
        compute_class_table1(catalog_con, "n02123159", k=2)
    assert get_text_stats_state(catalog_con) == "missing"
    run_build_text_stats(catalog_con)
    assert get_text_stats_state(catalog_con) == "current"
    result = compute_class_table1(catalog_con, "n02123159", k=2)  # tiger cat
    table = {r["distance"]: r for r in result["table1"].iter_rows(named=True)}
    assert set(table) == {"cosine", "euclidean"}
    assert table["cosine"]["closest"].endswith("(n02123045)")  # tabby
    assert table["cosine"]["closest_distance"] <= table["cosine"]["mean_distance"]
    assert "n02123159" not in result["nearest"]["cosine"]["wnid"].to_list()  # never itself
    with pytest.raises(ValueError, match="no text"):
        compute_class_table1(catalog_con, "n09999999")


def test_a_class_text_is_its_lemmas_active_description_and_other_sources_once(catalog_con):
    """Every stored description of a class reaches its statistics and embedding (issue 22:
    the texts that exist offline combined), shortest first after the active one; a class
    with no description has captions only; a description change is a new fingerprint."""
    from db import text_stats as stats_db

    con = catalog_con
    rows = [
        ("n02110063", "wordnet", "breed of sled dog developed in Alaska"),
        ("n02110063", "wiktionary", "A large breed of sled dog."),
        ("n02110063", "gpt", "A large, powerfully built spitz-type dog with a thick coat."),
    ]
    con.executemany("INSERT INTO descriptions (wnid, source, text) VALUES (?, ?, ?)", rows)
    con.execute(
        "INSERT INTO active_descriptions (wnid, source, text, revision, updated_by, updated_at) "
        "VALUES ('n02110063', 'wiktionary', 'A large breed of sled dog.', 1, 't', now())"
    )
    texts = stats_db.list_class_examples(con).filter(pl.col("is_description"))
    assert texts["wnid"].to_list() == ["n02110063"]
    assert texts["text"][0] == (
        "malamute, malemute, Alaskan malamute. A large breed of sled dog. breed of sled dog "
        "developed in Alaska. A large, powerfully built spitz-type dog with a thick coat."
    )
    before = stats_db.compute_examples_fingerprint(con)
    con.execute("UPDATE descriptions SET text = 'a sled dog' WHERE source = 'gpt'")
    assert stats_db.compute_examples_fingerprint(con) != before
