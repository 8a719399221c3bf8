"""AppTest of the relevance pages on a tmp database: frozen training from the page (live
chart, runs, scoring), and the review page (out-of-sample note, most likely wrong, a caption
with its thumbnail, keep/drop + undo, bulk + undo, thresholds per version, export)."""

from __future__ import annotations

import pytest

import tests.relevance_helpers as helpers
from curation.relevance import rules
from db import jobs as job_db
from db import relevance as relevance_db
from db import relevance_decisions as decision_db
from db import relevance_scores as scores_db
from db.connect import connect
from db.storage import get_storage
from tests.conftest import REPO_ROOT, open_page, wait_for_job
from tests.relevance_helpers import copy_db, make_image_root

tiny_encoder_dir = helpers.tiny_encoder_dir  # fixtures
torch_single_thread = helpers.torch_single_thread  # fixtures
frozen_scored_db = helpers.frozen_scored_db  # fixtures

PAGES = REPO_ROOT / "pages"
GOLDFISH = "n01443537"


@pytest.fixture
def app_db(frozen_scored_db, tmp_path, monkeypatch):
    """A copy of the scored database for the app; the working folder is tmp_path, so run
    folders and feature caches the page creates stay there."""
    path, version = frozen_scored_db
    db_path = copy_db(path, tmp_path / "app.duckdb")
    monkeypatch.setenv("WORKBENCH_DB", str(db_path))
    monkeypatch.chdir(tmp_path)
    con = connect(db_path)
    yield con, version
    con.close()


def _latest_job(con, kind: str) -> int:
    return int(job_db.list_jobs(con, kind=kind, limit=1)["job_id"][0])


def test_train_page_trains_frozen_with_a_live_chart_and_scores(app_db, tiny_encoder_dir):
    con, _ = app_db
    at = open_page(str(PAGES / "relevance_train.py"), timeout=60).run()
    assert not at.exception
    assert at.radio(key="rt-mode").value == "frozen"  # the default on a CPU
    at.button(key="rt-preview").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Classes"] == "4"
    at.selectbox(key="rt-encoder").set_value("Other: Hugging Face name or local path").run()
    at.text_input(key="rt-encoder-other").input(str(tiny_encoder_dir)).run()
    at.number_input(key="rt-f-epochs").set_value(4).run()
    at.button(key="rt-start").click().run()
    assert not at.exception
    job = wait_for_job(con, _latest_job(con, "relevance-train"))
    assert job["status"] == "succeeded", job["error"]
    assert job["spec"]["mode"] == "frozen" and job["result"]["features"]["n_new"] > 0
    at.run()
    assert any(c.key and c.key.startswith("rt-live-") for c in at.get("plotly_chart"))
    run = relevance_db.get_run(con, run_id=job["result"]["run_id"])
    assert run["status"] == "finished" and run["mode"] == "frozen"
    new_version = int(job["result"]["best_model_version"])
    assert at.selectbox(key=f"rt-score-version-{new_version}").value == new_version  # default
    at.button(key="rt-score").click().run()
    score_job = wait_for_job(con, _latest_job(con, "relevance-score"))
    assert score_job["status"] == "succeeded", score_job["error"]
    assert scores_db.count_scores(con, new_version) == 32
    at.run()
    assert any("32 out of sample" in t.value for t in at.text)


def test_review_page_reviews_a_caption_with_its_image_and_undoes(app_db, tmp_path):
    con, version = app_db
    scored = scores_db.list_scored_captions(con, version, wnid=GOLDFISH)
    root = make_image_root(tmp_path / "images", {f: GOLDFISH for f in scored["filename"]})
    at = open_page(str(PAGES / "relevance_review.py"), timeout=60)
    at.query_params["tab"] = "Images"
    at.run()
    assert not at.exception
    assert any("32 of 32 scores are out of sample" in i.value for i in at.info)
    at.text_input(key="rr-image-root").input(str(root)).run()
    at.button(key="rr-image-root-save").click().run()
    at.query_params["tab"] = "Captions of a class"
    at.query_params["wnid"] = GOLDFISH
    at.run()
    at.session_state["rr-class-table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert len(at.get("image")) == 1, "thumbnail beside the caption"
    assert any("Title: my goldfish photo" in t.value for t in at.text)
    caption_id = int(scored.sort("p_own")["caption_id"][0])
    at.radio(key="rr-class-table-choice").set_value("drop").run()
    at.text_input(key="rr-class-table-reason").input("only camera settings").run()
    at.button(key="rr-class-table-apply").click().run()
    decision = decision_db.get_decision(con, caption_id)
    assert decision["decision"] == "drop" and decision["actor"] == "tester"
    at.session_state["rr-class-table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.button(key="rr-class-table-undo").click().run()
    assert decision_db.get_decision(con, caption_id) is None


def test_review_page_bulk_drop_undo_threshold_and_export(app_db, tmp_path):
    con, version = app_db
    at = open_page(str(PAGES / "relevance_review.py"), timeout=60)
    at.query_params["tab"] = "Bulk"
    at.query_params["q"] = "goldfish"
    at.run()
    assert not at.exception
    assert any("8 captions match" in c.value for c in at.caption)
    at.text_input(key="bulk-reason").input("studio shots")  # a form: sent with the click
    at.button(key="bulk-apply").click().run()
    assert not at.exception
    bulk = decision_db.list_bulk_events(con)
    assert bulk.height == 1 and bulk["n_captions"][0] == 8
    assert decision_db.list_decisions(con).height == 8
    at.button(key="bulk-undo").click().run()
    assert decision_db.list_decisions(con).is_empty()
    at.query_params["tab"] = "Most likely wrong"
    at.query_params["rank"] = "Lowest P(own) (the paper's)"
    at.run()
    table = at.dataframe[0].value  # pandas
    assert len(table) == 32 and {"class", "suggested", "p_own"} <= set(table.columns)
    assert table["p_own"].tolist() == sorted(table["p_own"].tolist())
    at.slider(key=f"rr-threshold-{version}-paper").set_value(0.8).run()
    at.button(key="rr-threshold-save").click().run()
    assert decision_db.get_version_threshold(con, version, "") == 0.8
    at.query_params["tab"] = "Export"
    at.run()
    # The page takes no server path (issue 23 #2): it writes a new folder under the storage
    # root's exports/ and offers that export's own files as a zip.
    assert not [t for t in at.text_input if t.key and "export" in t.key]
    at.button(key="rr-export").click().run()
    assert not at.exception
    exports = list(get_storage(con).exports.glob(f"relevance-v{version}-*/captions.parquet"))
    assert len(exports) == 1
    assert at.get("download_button"), "zip download offered"


def test_review_page_two_rankings_and_accept_the_suggested_class(app_db):
    con, version = app_db
    con.execute(  # the tiny model is right on most: make two captions suggest another class
        "UPDATE relevance_scores SET suggested_wnid = 'n01443537' WHERE caption_id IN "
        "(SELECT caption_id FROM captions WHERE wnid <> 'n01443537' ORDER BY caption_id LIMIT 2)"
    )
    at = open_page(str(PAGES / "relevance_review.py"), timeout=60)
    at.query_params["tab"] = "Most likely wrong"
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert {"suspect_wrong_class", "suggested", "suggested_share"} <= set(table.columns)
    values = table["suspect_wrong_class"].tolist()
    assert values == sorted(values, reverse=True)
    at = open_page(str(PAGES / "relevance_review.py"), timeout=60)  # the list from a link
    at.query_params.update(tab="Most likely wrong", rank="No class content")
    at.run()
    values = at.dataframe[0].value["suspect_no_content"].tolist()
    assert values == sorted(values, reverse=True)
    at = open_page(str(PAGES / "relevance_review.py"), timeout=60)
    at.query_params.update(tab="Most likely wrong", rank="Lowest P(own) (the paper's)")
    at.run()
    frame = at.dataframe[0].value
    rows = [
        i
        for i, (c, s) in enumerate(zip(frame["class"], frame["suggested"], strict=True))
        if "n01443537" in s and "n01443537" not in c
    ]
    at.session_state["rr-wrong"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()
    at.text_input(key="rr-accept-reason").input("the text names a goldfish").run()
    at.button(key="rr-accept").click().run()
    assert not at.exception
    relabelled = con.execute("SELECT count(*) FROM relevance_relabels").fetchone()[0]
    assert relabelled == len(rows) > 0
    at.run()
    at.button(key="rr-relabel-undo").click().run()
    assert con.execute("SELECT count(*) FROM relevance_relabels").fetchone()[0] == 0


def test_edits_without_a_name_are_refused_with_a_message(app_db):
    con, _ = app_db
    at = open_page(str(PAGES / "relevance_review.py"), timeout=60, curator=None)
    at.query_params["tab"] = "Bulk"
    at.run()
    at.text_input(key="bulk-reason").input("no name")
    at.button(key="bulk-apply").click().run()
    assert any("Enter your name" in w.value for w in at.warning)
    assert decision_db.list_bulk_events(con).is_empty()


def test_review_page_without_scores_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "empty.duckdb"))
    at = open_page(str(PAGES / "relevance_review.py"), timeout=60).run()
    assert not at.exception
    assert any("No scores yet" in i.value for i in at.info)


def test_a_bulk_round_never_stores_the_previous_rounds_reason(app_db):
    """Issue 23, finding 11: under load a bulk decision was stored with the previous round's
    reason (the click arrived without the reason typed for it; the field still held the old
    one). The choice and reason now travel with the click in one form, and an applied
    reason is cleared, so a click without its own reason is refused."""
    con, _ = app_db
    at = open_page(str(PAGES / "relevance_review.py"), timeout=60)
    at.query_params["tab"] = "Bulk"
    at.query_params["q"] = "goldfish"
    at.run()
    at.text_input(key="bulk-reason").input("round one")
    at.button(key="bulk-apply").click().run()
    assert decision_db.list_bulk_events(con)["reason"].to_list() == ["round one"]
    at.radio(key="bulk-choice").set_value("keep")
    at.button(key="bulk-apply").click().run()  # round two: its reason never arrived
    assert not at.exception
    assert decision_db.list_bulk_events(con)["reason"].to_list() == ["round one"]
    assert any("reason" in w.value for w in at.warning)
    at.text_input(key="bulk-reason").input("round two")
    at.radio(key="bulk-choice").set_value("keep")
    at.button(key="bulk-apply").click().run()
    events = decision_db.list_bulk_events(con).sort("bulk_id")
    assert events["reason"].to_list() == ["round one", "round two"]


def test_runs_follow_a_newer_run_over_the_one_in_the_url(app_db):
    """Issue 17 item 8: after run 2 started, Runs kept the (cancelled) run from the URL."""
    from db import relevance as relevance_db

    con, _ = app_db
    old = int(relevance_db.list_runs(con)["run_id"][0])
    at = open_page(str(PAGES / "relevance_train.py"), timeout=60)
    at.query_params["run"] = str(old)
    at.run()
    assert at.selectbox(key="run").value == old
    new = relevance_db.insert_run(
        con,
        name="second",
        encoder="tiny",
        class_wnids=[GOLDFISH],
        checkpoint_dir="runs/second",
        spec={},
        dataset_report={},
        mode="frozen",
    )
    at.run()
    assert not at.exception
    assert at.selectbox(key="run").value == new
    # The walk of issue 17: a selected option's label stays in the browser as it was sent, so
    # a status in it ("training") stayed beside a finished run. The table shows the status.
    assert at.selectbox(key="run").options == [f"run {new} (frozen)", f"run {old} (frozen)"]


def test_a_large_bulk_change_asks_for_a_yes_first(app_db, monkeypatch):
    from ui import relevance_panels

    monkeypatch.setattr(relevance_panels, "BULK_CONFIRM_OVER", 20)  # this set has 36 captions
    con, _ = app_db
    at = open_page(str(PAGES / "relevance_review.py"), timeout=60)
    at.query_params["tab"] = "Bulk"
    at.run()
    shown = next(c.value for c in at.caption if "captions match" in c.value)
    n_match = int(shown.split(" captions match")[0].replace(",", ""))
    assert n_match > 20
    at.text_input(key="bulk-reason").input("everything")
    at.button(key="bulk-apply").click().run()
    assert decision_db.list_bulk_events(con).is_empty()  # not without the yes
    assert any(f"Yes, change all {n_match:,} captions" in w.value for w in at.warning)
    at.text_input(key="bulk-reason").input("everything")
    at.checkbox(key="bulk-confirm").check()
    at.button(key="bulk-apply").click().run()
    assert decision_db.list_bulk_events(con)["n_captions"].to_list() == [n_match]
    assert not at.checkbox(key="bulk-confirm").value  # the next round asks again


def test_review_page_switches_the_drop_rule_and_its_threshold(app_db):
    con, version = app_db
    at = open_page(str(PAGES / "relevance_review.py"), timeout=60)
    at.run()
    assert at.radio(key=f"rr-rule-{version}").value == "paper"
    assert at.slider(key=f"rr-threshold-{version}-paper").label.endswith("P(own class)")
    at.radio(key=f"rr-rule-{version}").set_value("suspect").run()
    at.button(key="rr-rule-save").click().run()
    assert not at.exception
    assert decision_db.get_drop_rule(con, version) == "suspect"
    assert any("drop rule suspect" in s.value for s in at.success)
    slider = at.slider(key=f"rr-threshold-{version}-suspect")
    assert slider.label.endswith("the suspect score") and slider.value == rules.SUSPECT_THRESHOLD
