"""Scorer, human decisions (history, undo), per-class thresholds, rescoring, export."""

from __future__ import annotations

import polars as pl
import pytest

import tests.relevance_helpers as helpers
from curation.relevance import decisions
from curation.relevance.export import export_curated_set, get_decided_captions
from curation.relevance.score import run_score_relevance
from curation.relevance.specs import ScoringSpec
from db import relevance_decisions as decision_db
from db import relevance_scores as scores_db
from db.connect import connect
from tests.relevance_helpers import copy_db, insert_caption

tiny_encoder_dir = helpers.tiny_encoder_dir  # fixtures
torch_single_thread = helpers.torch_single_thread  # fixtures
trained_db = helpers.trained_db  # fixtures


@pytest.fixture
def scored(trained_db, tmp_path):
    path, version = trained_db
    con = connect(copy_db(path, tmp_path / "db.duckdb"))
    long_id = insert_caption(con, "n01443537", "long.JPEG", "goldfish " * 400)
    report = run_score_relevance(con, ScoringSpec(model_version=version, max_length=64))
    yield con, version, report, long_id
    con.close()


def test_scores_each_caption_alone_and_counts_skips(scored):
    con, version, report, long_id = scored
    assert report["n_scored"] == 33 and report["n_skipped_short"] == 1
    assert report["n_truncated"] == 1 and report["mode"] == "finetune"
    frame = scores_db.list_scored_captions(con, version)
    assert frame.height == 33
    # fine-tune mode: test-split captions (8) and the new long one are out of sample
    assert report["n_out_of_sample"] == 9 == int(frame["out_of_sample"].sum())
    assert frame.filter(pl.col("caption_id") == long_id)["out_of_sample"][0]
    assert set(frame["suggested_wnid"]) <= set(frame["wnid"])
    assert (frame["p_suggested"] >= frame["p_own"]).all()
    assert frame.filter(pl.col("caption_id") == long_id)["n_tokens"][0] == 64
    assert frame.filter(pl.col("caption_id") == long_id)["truncated"][0]
    assert ((frame["p_own"] > 0) & (frame["p_own"] < 1)).all()
    assert set(frame["wnid"]) == {"n01440764", "n01443537", "n01484850", "n01491361"}
    runs = scores_db.list_scoring_runs(con, version)
    assert runs.height == 1


def test_human_decision_survives_rescoring_and_can_be_undone(scored):
    con, version, _, _ = scored
    before = get_decided_captions(con, version).sort("p_own", descending=True)
    target, model_decision = int(before["caption_id"][0]), before["model_decision"][0]
    human = "drop" if model_decision == "keep" else "keep"
    first = decisions.update_decision(
        con, target, decision=human, reason="camera specs only", actor="ana"
    )
    run_score_relevance(con, ScoringSpec(model_version=version, max_length=64))
    assert scores_db.count_scores(con, version) == 33  # replaced, not duplicated
    after = get_decided_captions(con, version).filter(pl.col("caption_id") == target)
    assert after["model_decision"][0] == model_decision
    assert after["decision"][0] == human and after["decided_by"][0] == "human"
    assert after["human_reason"][0] == "camera specs only"
    second = decisions.update_decision(
        con, target, decision=model_decision, reason="on reflection", actor="bo"
    )
    with pytest.raises(ValueError, match="undo that one first"):
        decisions.undo_decision_event(con, first.event_id, actor="ana")
    undo = decisions.undo_decision_event(con, second.event_id, actor="bo")
    assert decision_db.get_decision(con, target)["decision"] == human
    decisions.undo_decision_event(con, undo.event_id, actor="bo")  # undo of the undo = redo
    assert decision_db.get_decision(con, target)["decision"] == model_decision
    history = decision_db.list_decision_events(con, caption_id=target)
    assert history["action"].to_list() == ["undo", "undo", "set", "set"]
    decisions.update_decision(con, target, decision=None, reason="back to model", actor="bo")
    assert decision_db.get_decision(con, target) is None


def test_decision_validation(scored):
    con, _, _, _ = scored
    with pytest.raises(ValueError, match="reason"):
        decisions.update_decision(con, 1, decision="drop", reason=" ", actor="a")
    with pytest.raises(ValueError, match="one of"):
        decisions.update_decision(con, 1, decision="maybe", reason="x", actor="a")
    with pytest.raises(ValueError, match="does not exist"):
        decisions.update_decision(con, 999999, decision="drop", reason="x", actor="a")
    assert decision_db.list_decisions(con).is_empty()


def test_class_threshold_changes_decisions_with_history(scored):
    con, version, _, _ = scored
    decisions.update_class_threshold(
        con, "n01440764", model_version=version, threshold=1.0, reason="too lenient", actor="ana"
    )
    decided = get_decided_captions(con, version)
    tench = decided.filter(pl.col("wnid") == "n01440764")
    assert (tench["decision"] == "drop").all() and (tench["threshold"] == 1.0).all()
    decisions.update_class_threshold(
        con, "n01440764", model_version=version, threshold=None, reason="back", actor="ana"
    )
    assert decision_db.list_version_thresholds(con, version).is_empty()
    events = decision_db.list_threshold_events(con, model_version=version)
    assert events["threshold_after"].to_list() == [None, 1.0]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        decisions.update_class_threshold(
            con, "n01440764", model_version=version, threshold=2, reason="x", actor="a"
        )
    with pytest.raises(ValueError, match="catalog"):
        decisions.update_class_threshold(
            con, "n99999999", model_version=version, threshold=0.5, reason="x", actor="a"
        )
    with pytest.raises(ValueError, match="does not exist"):
        decisions.update_global_threshold(
            con, model_version=version + 99, threshold=0.5, reason="x", actor="a"
        )


def test_scoring_rejects_unknown_version_and_foreign_classes(scored):
    con, version, _, _ = scored
    with pytest.raises(ValueError, match="does not exist"):
        run_score_relevance(con, ScoringSpec(model_version=version + 100))
    with pytest.raises(ValueError, match="not in model version"):
        run_score_relevance(con, ScoringSpec(model_version=version, wnids=("n01494475",)))


def test_export_writes_parquet_descriptions_and_card(scored, tmp_path):
    con, version, _, _ = scored
    caption = int(scores_db.list_scored_captions(con, version)["caption_id"][0])
    decisions.update_decision(con, caption, decision="drop", reason="noise", actor="ana")
    result = export_curated_set(con, model_version=version, out_dir=tmp_path / "out")
    captions = pl.read_parquet(result["captions"])
    assert captions.height == 33 and result["n_human"] == 1
    assert {"decision", "coefficient", "source", "model_version", "human_reason"} <= set(
        captions.columns
    )
    assert captions.filter(pl.col("caption_id") == caption)["decision"][0] == "drop"
    kept = captions.filter(pl.col("decision") == "keep")["coefficient"]
    assert kept.max() == 1.0 and kept.min() > 0
    classes = pl.read_parquet(result["class_descriptions"])
    assert classes.height == 4 and classes["sentences"].list.len().min() >= 2
    card = open(result["card"], encoding="utf-8").read()
    assert "CC0-1.0" in card and f"model version {version}" in card
    only = export_curated_set(con, model_version=version, out_dir=tmp_path / "k", kept_only=True)
    assert pl.read_parquet(only["captions"]).height == result["n_kept"]


def test_export_says_which_description_revision_the_sentences_came_from(scored, tmp_path):
    from curation import descriptions as desc
    from db.descriptions import update_active_row

    con, version, _, _ = scored
    trained_on = desc.get_active_description(con, "n01440764")["revision"]
    # The seeded descriptions have no event history, so the edit is written at the row level.
    update_active_row(
        con,
        wnid="n01440764",
        source="manual",
        text="A tench. Edited later.",
        revision=trained_on + 1,
        actor="ana",
    )
    result = export_curated_set(con, model_version=version, out_dir=tmp_path / "out")
    classes = pl.read_parquet(result["class_descriptions"]).sort("wnid")
    tench = classes.row(0, named=True)
    assert tench["sentences_revision"] == trained_on
    assert tench["active_revision"] == trained_on + 1
    assert tench["active_description"] == "A tench. Edited later."
    unchanged = classes.filter(pl.col("wnid") != "n01440764")
    assert (unchanged["sentences_revision"] == unchanged["active_revision"]).all()
    card = open(result["card"], encoding="utf-8").read()
    assert "description of 1 class(es) changed since training" in card
    assert f"n01440764 (trained on revision {trained_on}, now {trained_on + 1})" in card


def test_scoring_batch_size_zero_means_automatic_per_device():
    assert ScoringSpec(model_version=1).resolve_batch_size("cpu") == 32
    assert ScoringSpec(model_version=1).resolve_batch_size("cuda") == 128
    assert ScoringSpec(model_version=1, batch_size=7).resolve_batch_size("cuda") == 7
    with pytest.raises(ValueError, match="batch_size"):
        ScoringSpec(model_version=1, batch_size=-1)
