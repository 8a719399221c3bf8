"""AppTest of the relevance pages on a tmp database with a tiny trained and scored model."""

from __future__ import annotations

import pytest

import tests.relevance_helpers as helpers
from curation.relevance.score import run_score_relevance
from curation.relevance.specs import ScoringSpec
from db import relevance as relevance_db
from db import relevance_decisions as decision_db
from db.connect import connect
from tests.conftest import REPO_ROOT, open_page, wait_for_job
from tests.relevance_helpers import copy_db

tiny_encoder_dir = helpers.tiny_encoder_dir  # fixtures
torch_single_thread = helpers.torch_single_thread  # fixtures
trained_db = helpers.trained_db  # fixtures

PAGES = REPO_ROOT / "pages"


@pytest.fixture
def app_db(trained_db, tmp_path, monkeypatch):
    path, version = trained_db
    db_path = copy_db(path, tmp_path / "app.duckdb")
    con = connect(db_path)
    run_score_relevance(con, ScoringSpec(model_version=version, max_length=64))
    monkeypatch.setenv("WORKBENCH_DB", str(db_path))
    yield con, version
    con.close()


def test_train_page_previews_trains_and_scores(app_db, tiny_encoder_dir, tmp_path):
    con, version = app_db
    at = open_page(str(PAGES / "relevance_train.py"), timeout=60).run()
    assert not at.exception
    at.button(key="rt-preview").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Classes"] == "4" and metrics["Test captions"] == "8"
    assert any("1 empty/one-word captions" in t.value for t in at.text)
    assert at.get("plotly_chart"), "live training chart"
    at.selectbox(key="rt-encoder").set_value("Other: Hugging Face name or local path").run()
    at.text_input(key="rt-encoder-other").input(str(tiny_encoder_dir)).run()
    at.number_input(key="rt-epochs").set_value(1).run()
    at.text_input(key="rt-dir").input(str(tmp_path / "page-run")).run()
    at.button(key="rt-start").click().run()
    assert not at.exception
    job = wait_for_job(con, at.session_state["rt-train-job"])
    assert job["status"] == "succeeded", job["error"]
    assert relevance_db.get_run(con, checkpoint_dir=str(tmp_path / "page-run")) is not None
    at.run()
    at.selectbox(key="rt-score-version").set_value(version).run()
    at.button(key="rt-score").click().run()
    job = wait_for_job(con, at.session_state["rt-score-job"])
    assert job["status"] == "succeeded", job["error"]
    assert relevance_db.list_scoring_runs(con, version).height == 2


def test_review_page_overrules_undoes_thresholds_and_exports(app_db, tmp_path):
    con, version = app_db
    at = open_page(str(PAGES / "relevance_review.py"), timeout=60).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Scored"] == "32"
    assert len(at.get("plotly_chart")) == 2
    at.selectbox(key="rr-class").set_value("n01443537").run()
    caption_id = at.selectbox(key="rr-caption").value
    assert any("Title: my goldfish photo" in t.value for t in at.text)
    at.radio(key="rr-choice").set_value("drop").run()
    at.text_input(key="rr-reason").input("only camera settings").run()
    at.button(key="rr-apply").click().run()
    assert not at.exception
    decision = decision_db.get_decision(con, caption_id)
    assert decision["decision"] == "drop" and decision["reason"] == "only camera settings"
    undo = next(b for b in at.button if b.key == "rr-undo")
    undo.click().run()
    assert decision_db.get_decision(con, caption_id) is None
    at.selectbox(key="rr-th-class").set_value("n01440764").run()
    at.number_input(key="rr-th").set_value(0.9).run()
    at.text_input(key="rr-th-reason").input("tench captions are noisy").run()
    at.button(key="rr-th-set").click().run()
    thresholds = decision_db.list_class_thresholds(con)
    assert thresholds.row(0, named=True)["threshold"] == 0.9
    at.text_input(key="rr-export-dir").input(str(tmp_path / "export")).run()
    at.button(key="rr-export").click().run()
    assert not at.exception
    assert (tmp_path / "export" / "captions.parquet").exists()
    assert (tmp_path / "export" / "DATASET_CARD.md").exists()


def test_review_page_without_scores_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "empty.duckdb"))
    at = open_page(str(PAGES / "relevance_review.py"), timeout=60).run()
    assert not at.exception
    assert any("No scores yet" in i.value for i in at.info)
