"""Neighbours a user can trust, with the real all-MiniLM-L6-v2 over the 1000 class
descriptions (no captions, so the 1000 texts embed in well under a minute on a CPU)."""

from __future__ import annotations

import pytest

from curation.catalog import seed_imagenet1k
from curation.demo import DEFAULT_DESCRIPTION_ORDER, DEMO_ACTOR
from encoders.text_encoder import load_text_encoder
from extension.models import load_base_classifier
from extension.specs import ModelSpec
from extension.synthesis.donors import load_donors
from extension.synthesis.neighbours import compute_preview
from extension.text.store import ensure_text_stats

pytestmark = pytest.mark.slow
WARSHIP = "a ship built for naval warfare, armed with guns and missiles"
SHIPS = {"aircraft carrier", "submarine", "fireboat", "liner", "container ship", "pirate ship"}


@pytest.fixture(scope="module")
def donors(tmp_path_factory):
    from curation.descriptions import import_builtin_sources, use_source_where_unset
    from db.connect import connect

    root = tmp_path_factory.mktemp("minilm")
    con = connect(root / "workbench.duckdb")
    seed_imagenet1k(con)
    import_builtin_sources(con)
    for source in DEFAULT_DESCRIPTION_ORDER:
        use_source_where_unset(con, source=source, actor=DEMO_ACTOR)
    ensure_text_stats(con)
    base = load_base_classifier(ModelSpec(), cache_dir=root)
    encoder = load_text_encoder(cache_dir=root)
    yield load_donors(con, base.head, list(base.class_wnids), text_encoder=encoder)
    con.close()


def test_warship_neighbours_by_embedding_are_ships_and_say_why(donors):
    preview = compute_preview(donors, [WARSHIP], k=5)
    embedding = preview.nearest["embedding"]
    assert set(embedding["name"].head(3).to_list()) & SHIPS, embedding
    assert "bicycle-built-for-two" not in embedding["name"].to_list()
    top = embedding.row(0, named=True)
    assert top["reason"].startswith("closest sentence") and top["evidence"][0]
    # The token distances show which words made a class near, so a weak neighbour is visible.
    cosine = preview.nearest["cosine"]
    for row in cosine.iter_rows(named=True):
        assert row["evidence"], row  # every cosine neighbour shares at least one token
        assert set(row["evidence"]) <= set(WARSHIP.replace(",", "").split())
