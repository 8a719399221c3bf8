"""AppTest of the Captions page's image grid on a real DuckDB file with scores: the table's
filters and page as thumbnails with the caption and P(own) under each, the captions without
an image counted with the reason, and Open showing the record in full."""

from __future__ import annotations

from curation.thumbnails import NO_ROOT, NOT_FOUND, update_image_root
from db import relevance_scores as scores_db
from tests.conftest import REPO_ROOT, open_page
from tests.integration.test_relevance_pages import (  # noqa: F401 (fixtures)
    GOLDFISH,
    app_db,
    frozen_scored_db,
    tiny_encoder_dir,
    torch_single_thread,
)
from tests.relevance_helpers import make_image_root

PAGE = str(REPO_ROOT / "pages" / "captions.py")


def _captions(at) -> str:
    return " ".join(c.value.replace("\\", "") for c in at.caption)


def _open_grid():
    at = open_page(PAGE, timeout=60)
    at.query_params["cap-view"] = "Image grid"
    at.run()
    at.selectbox(key="cap-class").set_value(GOLDFISH).run()
    assert not at.exception, at.exception
    return at


def test_grid_shows_images_scores_missing_reasons_and_opens_a_record(app_db, tmp_path):  # noqa: F811
    con, version = app_db
    scored = scores_db.list_scored_captions(con, version, wnid=GOLDFISH).sort("caption_id")
    n = scored.height
    at = _open_grid()
    assert f"0 of {n} captions on this page have an image. {n} without: {NO_ROOT}" in _captions(at)

    with_image = scored["filename"].head(3).to_list()
    update_image_root(
        con, make_image_root(tmp_path / "img", dict.fromkeys(with_image, GOLDFISH)), actor="t"
    )
    at = _open_grid()
    assert (
        f"3 of {n} captions on this page have an image. {n - 3} without: {NOT_FOUND}"
        in _captions(at)
    )
    assert len(at.get("image")) == 3 + 1  # the grid, and the record in full below it
    texts = [t.value for t in at.text]
    first = scored.row(0, named=True)
    assert any(
        t.startswith("my goldfish photo")
        and f"{first['caption_id']} · P(own) {first['p_own']:.3f}" in t
        for t in texts
    ), texts

    last = scored.row(n - 1, named=True)
    at.button(key=f"cap-grid-open-{last['caption_id']}").click().run()
    assert not at.exception
    assert at.query_params["cap-record"] == [str(last["caption_id"])] or at.query_params[
        "cap-record"
    ] == str(last["caption_id"])
    assert any(t.value == last["filename"] for t in at.text)
