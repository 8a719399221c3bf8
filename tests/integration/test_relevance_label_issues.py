"""Issue 19 and issue 17 (Deliver 6) on a real DuckDB file: frozen-mode scoring stores the
two suspect scores and cleanlab's flags (migration 0008); the rankings; accepting the
suggested class (one, many, undo) with both labels in the export; a curator's drops leave the
next training set and relabelled captions train under their curated class."""

from __future__ import annotations

import polars as pl
import pytest

import tests.relevance_helpers as helpers
from curation.relevance import relabels
from curation.relevance.dataset import build_relevance_dataset
from curation.relevance.decisions import update_decision
from curation.relevance.export import export_curated_set, get_decided_captions
from curation.relevance.rules import compute_ranking
from curation.relevance.specs import DatasetSpec
from db import relevance_relabels as relabel_db
from db import relevance_scores as scores_db
from db.connect import connect
from tests.relevance_helpers import copy_db

tiny_encoder_dir = helpers.tiny_encoder_dir  # fixtures
torch_single_thread = helpers.torch_single_thread  # fixtures
frozen_scored_db = helpers.frozen_scored_db  # fixtures


@pytest.fixture
def scored(frozen_scored_db, tmp_path):
    path, version = frozen_scored_db
    con = connect(copy_db(path, tmp_path / "db.duckdb"))
    yield con, version
    con.close()


def test_scoring_stores_both_suspect_scores_and_cleanlab_flags(scored):
    con, version = scored
    frame = scores_db.list_scored_captions(con, version)
    assert frame.height == 32
    for column in ("suspect_wrong_class", "suspect_no_content", "suggested_share"):
        values = frame[column].to_numpy()
        assert frame[column].null_count() == 0
        assert ((values >= 0) & (values <= 1)).all()
    assert frame["label_issue"].null_count() == 0  # every frozen score is out of sample
    report = scores_db.list_scoring_runs(con, version)["report_json"][0]
    assert '"label_issues"' in report and '"n_flagged"' in report


def test_rankings_order_by_their_own_score_and_skip_reviewed(scored):
    con, version = scored
    decided = get_decided_captions(con, version)
    wrong = compute_ranking(decided, kind="wrong-class")
    empty = compute_ranking(decided, kind="no-content")
    paper = compute_ranking(decided, kind="paper")
    assert wrong["suspect_wrong_class"].to_list() == sorted(
        wrong["suspect_wrong_class"].to_list(), reverse=True
    )
    assert empty["suspect_no_content"].to_list() == sorted(
        empty["suspect_no_content"].to_list(), reverse=True
    )
    assert paper["p_own"].to_list() == sorted(paper["p_own"].to_list())
    first = int(wrong["caption_id"][0])
    update_decision(con, first, decision="keep", reason="checked", actor="t")
    again = compute_ranking(get_decided_captions(con, version), kind="wrong-class")
    assert first not in again["caption_id"].to_list()  # a kept caption is trusted
    with pytest.raises(ValueError, match="kind must be one of"):
        compute_ranking(decided, kind="typo")


def _movable(con, version, n: int) -> list[int]:
    frame = scores_db.list_scored_captions(con, version)
    moved = frame.filter(pl.col("suggested_wnid") != pl.col("wnid"))
    if moved.height < n:  # the tiny model is right on most: pretend it suggests another
        ids = frame["caption_id"].head(n).to_list()
        other = sorted(set(frame["wnid"]))
        con.execute(
            "UPDATE relevance_scores SET suggested_wnid = CASE WHEN c.wnid = ? THEN ? ELSE ? END "
            "FROM captions c WHERE c.caption_id = relevance_scores.caption_id "
            "AND list_contains(?, relevance_scores.caption_id)",
            [other[0], other[1], other[0], ids],
        )
        return ids
    return moved["caption_id"].head(n).to_list()


def test_accept_one_and_many_suggested_classes_undo_and_export_both_labels(scored, tmp_path):
    con, version = scored
    one, *many = _movable(con, version, 4)
    change = relabels.accept_suggested_classes(
        con, [one], model_version=version, reason="the text names it", actor="t"
    )
    assert change.batch_id is None
    suggested = scores_db.list_scored_captions(con, version).filter(pl.col("caption_id") == one)
    assert relabel_db.get_relabel(con, one) == suggested["suggested_wnid"][0]
    with pytest.raises(ValueError, match="already in the class"):
        relabels.accept_suggested_classes(con, [one], model_version=version, reason="x", actor="t")
    batch = relabels.accept_suggested_classes(
        con, many, model_version=version, reason="bulk accept", actor="t"
    )
    assert batch.batch_id is not None and batch.n_captions == 3
    export_curated_set(con, model_version=version, out_dir=tmp_path / "out")
    out = pl.read_parquet(tmp_path / "out" / "captions.parquet")
    assert {"suspect_wrong_class", "suspect_no_content", "p_own", "suggested_wnid"} <= set(
        out.columns
    )
    row = out.filter(pl.col("caption_id") == one).row(0, named=True)
    assert row["curated_wnid"] == row["wnid"] != row["original_wnid"]
    assert out.filter(pl.col("curated_wnid") != pl.col("original_wnid")).height == 4
    relabels.undo_relabel(con, actor="t", batch_id=batch.batch_id)
    assert all(relabel_db.get_relabel(con, c) is None for c in many)
    relabels.undo_relabel(con, actor="t", event_id=change.event_id)
    assert relabel_db.list_relabels(con).is_empty()
    history = relabels.list_relabel_history(con)
    assert history.height == 8 and set(history["action"]) == {"set", "undo"}


def test_undo_refuses_an_older_relabel_and_unscored_captions_are_named(scored):
    con, version = scored
    (one,) = _movable(con, version, 1)
    first = relabels.accept_suggested_classes(
        con, [one], model_version=version, reason="a", actor="t"
    )
    relabels.undo_relabel(con, actor="t", event_id=first.event_id)
    with pytest.raises(ValueError, match="relabelled again"):
        relabels.undo_relabel(con, actor="t", event_id=first.event_id)
    with pytest.raises(ValueError, match="suggests no class for captions"):
        relabels.accept_suggested_classes(
            con, [10**9], model_version=version, reason="a", actor="t"
        )


def test_drops_leave_the_next_training_set_and_relabels_train_under_the_curated_class(scored):
    con, version = scored
    before = build_relevance_dataset(con, DatasetSpec())
    dropped, moved = before.captions["caption_id"].head(2).to_list()
    update_decision(con, dropped, decision="drop", reason="no content", actor="t")
    con.execute(
        "INSERT INTO relevance_relabels VALUES (?, ?, 'x', 't', current_timestamp)",
        [moved, before.class_wnids[-1]],
    )
    after = build_relevance_dataset(con, DatasetSpec())
    ids = after.captions["caption_id"].to_list()
    assert dropped not in ids and after.captions.height == before.captions.height - 1
    row = after.captions.filter(pl.col("caption_id") == moved)
    assert row["wnid"][0] == before.class_wnids[-1]
    assert after.report["n_left_out_dropped_by_curator"] == 1
    assert after.report["n_relabelled_by_curator"] == 1
    plain = build_relevance_dataset(con, DatasetSpec(use_curation=False))
    assert plain.captions.height == before.captions.height


def test_scoring_reads_the_class_names_so_naming_its_own_class_lowers_suspicion(scored):
    """The captions say "my goldfish photo": with the goldfish's lemmas renamed in the catalog
    they name nothing, and scoring again makes every one of them more suspect."""
    from curation.relevance.score import run_score_relevance
    from curation.relevance.specs import ScoringSpec

    con, version = scored
    goldfish = pl.col("wnid") == "n01443537"

    def suspicion() -> list[float]:
        frame = scores_db.list_scored_captions(con, version).filter(goldfish)
        return frame.sort("caption_id")["suspect_wrong_class"].to_list()

    before = suspicion()
    con.execute("UPDATE classes SET lemmas = 'zzz' WHERE wnid = 'n01443537'")
    run_score_relevance(con, ScoringSpec(model_version=version))
    after = suspicion()
    assert len(after) == len(before) > 0
    assert all(a > b for a, b in zip(after, before, strict=True))


def test_a_class_with_fewer_captions_than_folds_leaves_only_its_own_captions_unflagged(scored):
    """The embedded default has two classes with 3 and 4 captions: cleanlab flags every other
    caption, and the scoring report names the short classes."""
    import json

    from curation.relevance.score import run_score_relevance
    from curation.relevance.specs import ScoringSpec

    con, version = scored
    keep = con.execute("SELECT min(caption_id) FROM captions WHERE wnid = 'n01443537'").fetchone()[
        0
    ]
    con.execute(
        "DELETE FROM captions WHERE wnid = 'n01443537' AND caption_id <> ?", [keep]
    )  # the goldfish keeps one caption (the tiny model's folds: more than one)
    report = run_score_relevance(con, ScoringSpec(model_version=version))
    frame = scores_db.list_scored_captions(con, version)
    goldfish = frame.filter(pl.col("wnid") == "n01443537")
    others = frame.filter(pl.col("wnid") != "n01443537")
    assert goldfish.height == 1 and goldfish["label_issue"].null_count() == 1
    assert others.height > 0 and others["label_issue"].null_count() == 0
    assert report["label_issues"]["n_flagged"] is not None
    assert "fewer captions than the" in report["label_issues"]["why_not"]
    stored = json.loads(scores_db.list_scoring_runs(con, version)["report_json"][0])
    assert "their captions get no cleanlab flag" in stored["label_issues"]["why_not"]
