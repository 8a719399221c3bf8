"""AppTest of keyboard review on the Review page (real DuckDB file, frozen scores): one
caption of the "most likely wrong" list at a time; the keys are the buttons' own shortcuts
(shown on the page); drop and keep store the decision (with the reason typed once) before the
next caption shows; undo brings the caption back; next / previous move; a class's captions
review the same way."""

from __future__ import annotations

import re

from curation.relevance.export import get_decided_captions
from curation.relevance.rules import compute_ranking
from db import relevance_decisions as decision_db
from tests.conftest import open_page
from tests.integration.test_relevance_pages import (  # noqa: F401 (fixtures)
    GOLDFISH,
    PAGES,
    app_db,
    frozen_scored_db,
    tiny_encoder_dir,
    torch_single_thread,
)
from ui.keyboard_review import KEY_LINE

KB = "rr-kb-wrong-class"


def _shown(at) -> tuple[int, int, int]:
    """(position, list length, caption id) the page says it shows."""
    for caption in at.caption:
        found = re.search(
            r"Caption (\d+) of (\d+) in this list \(id (\d+)\)", caption.value.replace("\\", "")
        )
        if found:
            return tuple(int(g) for g in found.groups())
    raise AssertionError([c.value for c in at.caption])


def _open(query: dict):
    at = open_page(str(PAGES / "relevance_review.py"), timeout=60)
    at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def test_keyboard_review_drop_keep_undo_and_moves(app_db):  # noqa: F811
    con, version = app_db
    ranked = compute_ranking(get_decided_captions(con, version), kind="wrong-class")
    ids = ranked["caption_id"].head(50).to_list()
    at = _open({"tab": "Most likely wrong", "rr-wrong-view": "One by one (keyboard)"})
    assert any(c.value == KEY_LINE for c in at.caption)
    shortcuts = {b.key: b.proto.shortcut for b in at.button if b.key and b.key.startswith(KB)}
    assert shortcuts[f"{KB}-drop"].lower() == "d" and shortcuts[f"{KB}-keep"].lower() == "k"
    assert shortcuts[f"{KB}-next"].lower() == "right" and shortcuts[f"{KB}-undo"].lower() == "u"
    assert _shown(at) == (1, len(ids), ids[0])

    at.button(key=f"{KB}-drop").click().run()
    assert any("Type the reason" in w.value for w in at.warning)
    assert decision_db.get_decision(con, ids[0]) is None
    at.text_input(key=f"{KB}-reason").input("camera settings only").run()
    at.button(key=f"{KB}-drop").click().run()
    assert decision_db.get_decision(con, ids[0])["decision"] == "drop"
    assert _shown(at)[2] == ids[1]  # the next caption, shown after the drop was stored
    at.button(key=f"{KB}-keep").click().run()
    kept = decision_db.get_decision(con, ids[1])
    assert kept["decision"] == "keep" and kept["reason"] == "camera settings only"
    assert _shown(at)[2] == ids[2]

    at.button(key=f"{KB}-undo").click().run()
    assert decision_db.get_decision(con, ids[1]) is None
    assert _shown(at)[2] == ids[1]
    at.button(key=f"{KB}-next").click().run()
    assert _shown(at)[2] == ids[2]
    at.button(key=f"{KB}-previous").click().run()
    assert _shown(at)[2] == ids[1]
    assert not at.exception


def test_keyboard_review_of_a_class(app_db):  # noqa: F811
    con, _ = app_db
    at = _open(
        {"tab": "Captions of a class", "wnid": GOLDFISH, "rr-class-view": "One by one (keyboard)"}
    )
    first = _shown(at)
    key = f"rr-kb-class-{GOLDFISH}"
    at.text_input(key=f"{key}-reason").input("fine").run()
    at.button(key=f"{key}-keep").click().run()
    assert decision_db.get_decision(con, first[2])["decision"] == "keep"
    assert _shown(at)[0] == 2  # the class list keeps reviewed captions: the next position
    at.button(key=f"{key}-open").click().run()
    assert not at.exception
