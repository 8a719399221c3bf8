"""Review at dataset scale: bulk keep/drop of a filter's matches as one undoable event,
thresholds kept per model version (and used by the export), the "most likely wrong"
ranking, caption sources, image paths for thumbnails, and the 0006 migration."""

from __future__ import annotations

import polars as pl
import pytest

from curation.relevance import decisions, rules
from curation.relevance.dataset import build_relevance_dataset
from curation.relevance.export import export_curated_set, get_decided_captions
from curation.relevance.rules import FROZEN_THRESHOLD, compute_most_likely_wrong
from curation.relevance.specs import CaptionFilter, DatasetSpec
from curation.thumbnails import find_caption_image, get_image_root, update_image_root
from db import relevance as relevance_db
from db import relevance_decisions as decision_db
from db import relevance_scores as scores_db
from tests.relevance_helpers import CLASS_TEXT, fill_relevance_db, insert_caption

WNIDS = sorted(CLASS_TEXT)


def _fake_version(con, tmp_path, name="v") -> int:
    """A recorded model version (no weights needed to review its scores)."""
    run_id = relevance_db.insert_run(
        con,
        name=name,
        encoder="tiny",
        class_wnids=WNIDS,
        checkpoint_dir=str(tmp_path / name),
        spec={"head": {"folds": 5}},
        dataset_report={},
        mode="frozen",
    )
    relevance_db.update_run_status(con, run_id, "finished")
    return relevance_db.insert_model_version(
        con, run_id, epoch=1, path="x", sha256="0" * 64, test_loss=0.1, test_accuracy=0.9
    )


def _insert_scores(con, version: int, p_own_of) -> pl.DataFrame:
    """Scores for every caption of the 4 classes: p_own from `p_own_of(caption_id, wnid)`."""
    captions = relevance_db.list_caption_records(con, wnids=WNIDS)
    p_own = [p_own_of(c, w) for c, w in zip(captions["caption_id"], captions["wnid"], strict=True)]
    scores = pl.DataFrame(
        {
            "caption_id": captions["caption_id"],
            "p_own": p_own,
            "p_mean": [0.05] * captions.height,
            "n_tokens": [8] * captions.height,
            "truncated": [False] * captions.height,
            "suggested_wnid": [
                w if p >= 0.5 else WNIDS[0] for w, p in zip(captions["wnid"], p_own, strict=True)
            ],
            "p_suggested": [max(p, 0.6) for p in p_own],
            "out_of_sample": [True] * captions.height,
        }
    )
    scores_db.insert_scores(con, model_version=version, scores=scores, spec={}, report={})
    return captions


@pytest.fixture
def reviewed(con, tmp_path):
    fill_relevance_db(con, per_class=6)
    version = _fake_version(con, tmp_path)
    captions = _insert_scores(con, version, lambda c, w: 0.9 if c % 3 else 0.2)
    return con, version, captions


def test_bulk_drop_of_a_search_is_one_event_and_undo_restores_every_caption(reviewed):
    con, version, _ = reviewed
    goldfish = CaptionFilter(model_version=version, search="GOLDFISH photo")
    ids = decisions.list_filtered_caption_ids(con, goldfish)
    assert len(ids) == 6
    kept = decisions.update_decision(con, ids[0], decision="keep", reason="checked", actor="ana")
    change = decisions.update_decisions_bulk(
        con, goldfish, decision="drop", reason="studio shots", actor="bo", expected_count=6
    )
    assert change.n_captions == 6 and "6 captions: drop" in change.describe()
    # the page's "your last change" offers single-caption changes, not bulk ones
    assert decisions.get_latest_change(con, actor="ana")["event_id"] == kept.event_id
    assert decisions.get_latest_change(con, actor="bo") is None
    assert all(decision_db.get_decision(con, i)["decision"] == "drop" for i in ids)
    bulk = decisions.list_bulk_history(con)
    assert bulk.height == 1 and bulk["n_captions"][0] == 6
    events = decision_db.list_decision_events(con, limit=1000)
    assert (events["bulk_id"] == change.bulk_id).sum() == 6
    undo = decisions.undo_bulk_event(con, change.bulk_id, actor="bo")
    assert undo.reverts_bulk_id == change.bulk_id
    assert decision_db.get_decision(con, ids[0])["decision"] == "keep"  # its earlier decision
    assert all(decision_db.get_decision(con, i) is None for i in ids[1:])
    assert decisions.list_bulk_history(con)["undone_by"].to_list() == [None, undo.bulk_id]
    redo = decisions.undo_bulk_event(con, undo.bulk_id, actor="bo")  # undo of the undo
    assert all(decision_db.get_decision(con, i)["decision"] == "drop" for i in ids)
    decisions.update_decision(con, ids[2], decision="keep", reason="on reflection", actor="ana")
    with pytest.raises(ValueError, match="1 of the 6 captions .* changed after it"):
        decisions.undo_bulk_event(con, redo.bulk_id, actor="bo")


def test_bulk_refuses_a_changed_match_count_no_match_and_bad_filters(reviewed):
    con, version, _ = reviewed
    low = CaptionFilter(model_version=version, p_max=0.25)
    n = len(decisions.list_filtered_caption_ids(con, low))
    assert n == 8  # every third caption of 24 has p_own 0.2
    with pytest.raises(ValueError, match=f"now matches {n} captions, not {n + 1}"):
        decisions.update_decisions_bulk(
            con, low, decision="drop", reason="r", actor="a", expected_count=n + 1
        )
    with pytest.raises(ValueError, match="No caption matches"):
        decisions.update_decisions_bulk(
            con, CaptionFilter(search="no such words"), decision="drop", reason="r", actor="a"
        )
    with pytest.raises(ValueError, match="need a model_version"):
        CaptionFilter(p_min=0.2)
    with pytest.raises(ValueError, match="above p_max"):
        CaptionFilter(model_version=1, p_min=0.5, p_max=0.2)
    with pytest.raises(ValueError, match="reason"):
        decisions.update_decisions_bulk(con, low, decision="drop", reason=" ", actor="a")
    assert decision_db.list_decisions(con).is_empty()
    other = CaptionFilter(model_version=version, wnid=WNIDS[1], suggested_other=True)
    assert len(decisions.list_filtered_caption_ids(con, other)) == 2


def test_thresholds_are_kept_per_model_version_and_used_by_the_export(reviewed, tmp_path):
    con, version, _ = reviewed
    other = _fake_version(con, tmp_path, "w")
    _insert_scores(con, other, lambda c, w: 0.6)
    assert decisions.get_thresholds(con, version) == (FROZEN_THRESHOLD, {})  # frozen default
    decisions.update_global_threshold(
        con, model_version=version, threshold=0.95, reason="strict", actor="ana"
    )
    decisions.update_class_threshold(
        con, WNIDS[0], model_version=version, threshold=0.1, reason="lenient", actor="ana"
    )
    assert decisions.get_thresholds(con, version) == (0.95, {WNIDS[0]: 0.1})
    assert decisions.get_thresholds(con, other) == (FROZEN_THRESHOLD, {})
    decided = get_decided_captions(con, version)
    assert (decided.filter(pl.col("wnid") == WNIDS[0])["decision"] == "keep").all()
    assert (decided.filter(pl.col("wnid") != WNIDS[0])["decision"] == "drop").all()
    assert (get_decided_captions(con, other)["decision"] == "keep").all()
    result = export_curated_set(con, model_version=version, out_dir=tmp_path / "out")
    exported = pl.read_parquet(result["captions"])
    n_tench = decided.filter(pl.col("wnid") == WNIDS[0]).height
    assert result["n_kept"] == n_tench == 7 and exported["out_of_sample"].all()
    assert "P < 0.95" in open(result["card"], encoding="utf-8").read()
    events = decision_db.list_threshold_events(con, model_version=version)
    assert events["wnid"].to_list() == [WNIDS[0], ""]


def test_most_likely_wrong_ranks_all_classes_and_skips_reviewed(reviewed):
    con, version, _ = reviewed
    decided = get_decided_captions(con, version)
    ranked = compute_most_likely_wrong(decided)
    assert ranked["p_own"].to_list() == sorted(ranked["p_own"].to_list())
    assert len(set(ranked.head(8)["wnid"])) == 4  # dataset-wide, not one class
    first = int(ranked["caption_id"][0])
    decisions.update_decision(con, first, decision="drop", reason="wrong", actor="ana")
    again = compute_most_likely_wrong(get_decided_captions(con, version))
    assert first not in again["caption_id"].to_list()
    assert again.height == ranked.height - 1


def test_caption_source_filter_and_unknown_source(con):
    fill_relevance_db(con, per_class=6)
    insert_caption(con, WNIDS[0], "x.JPEG", "imported tench caption text")
    con.execute("UPDATE captions SET source = 'mine' WHERE filename = 'x.JPEG'")
    only = build_relevance_dataset(con, DatasetSpec(source="mine"))
    assert only.captions.height == 1 and only.report["source"] == "mine"
    assert len(only.report["classes_without_captions"]) == 3
    with pytest.raises(ValueError, match=r"'nope' has no captions.*\['mine', 'test'\]"):
        build_relevance_dataset(con, DatasetSpec(source="nope"))


def test_caption_images_are_found_in_the_imagenet_layouts(con, tmp_path):
    from PIL import Image
    from skimage import data

    root = tmp_path / "imagenet"
    photo = Image.fromarray(data.chelsea())
    layouts = {
        "train/n02123045/n02123045_1.JPEG": ("n02123045_1.JPEG", "n02123045"),
        "val/ILSVRC2012_val_00000001.JPEG": ("ILSVRC2012_val_00000001.JPEG", "n01440764"),
        "val/n01443537/ILSVRC2012_val_00000002.JPEG": ("ILSVRC2012_val_00000002.JPEG", "n01443537"),
        "flat_001.jpg": ("flat_001.jpg", "n01484850"),
    }
    for relative in layouts:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        photo.save(root / relative)
    assert get_image_root(con) is None
    with pytest.raises(FileNotFoundError, match="not a folder"):
        update_image_root(con, tmp_path / "missing", actor="ana")
    assert update_image_root(con, root, actor="ana") == root.resolve()
    found_root = get_image_root(con)
    for relative, (filename, wnid) in layouts.items():
        assert find_caption_image(found_root, filename, wnid) == root.resolve() / relative
    assert find_caption_image(found_root, "n02123045_2.JPEG", "n02123045") is None
    assert find_caption_image(found_root, "../imagenet/flat_001.jpg", "x") is None
    assert (
        find_caption_image(found_root, "flat_001.jpg", "../..") == root.resolve() / "flat_001.jpg"
    )
    update_image_root(con, None, actor="ana")
    assert get_image_root(con) is None


def test_migration_0006_copies_old_class_thresholds_to_every_version(db_path):
    import duckdb

    from db.connect import connect
    from db.migrate import _apply, get_schema_version, list_migrations

    raw = duckdb.connect(str(db_path))
    get_schema_version(raw)
    for migration in list_migrations()[:5]:
        _apply(raw, migration)
    raw.execute(
        "INSERT INTO relevance_runs (name, encoder, class_wnids, checkpoint_dir, spec_json, "
        "dataset_json, status) VALUES ('old', 'e', ['n01440764'], '/x', '{}', '{}', 'finished')"
    )
    for epoch in (1, 2):
        raw.execute(
            "INSERT INTO relevance_model_versions (run_id, epoch, path, sha256) "
            "VALUES (1, ?, 'p', 's')",
            [epoch],
        )
    raw.execute(
        "INSERT INTO relevance_class_thresholds VALUES ('n01440764', 0.7, 'old', 'ana', now())"
    )
    raw.close()
    con = connect(db_path)
    try:
        assert decisions.get_thresholds(con, 1) == (0.5, {"n01440764": 0.7})
        assert decisions.get_thresholds(con, 2) == (0.5, {"n01440764": 0.7})
        assert relevance_db.get_run(con, run_id=1)["mode"] == "finetune"
    finally:
        con.close()


def test_decision_actor_and_reason_are_recorded_trimmed(reviewed):
    con, _, captions = reviewed
    caption_id = int(captions["caption_id"][0])
    decisions.update_decision(con, caption_id, decision="drop", reason=" blurry\n", actor=" ana ")
    row = decision_db.get_decision(con, caption_id)
    assert (row["decision"], row["reason"], row["actor"]) == ("drop", "blurry", "ana")
    assert decisions.get_latest_change(con, actor="ana")["caption_id"] == caption_id


def test_a_decision_changed_meanwhile_is_refused_and_kept(reviewed):
    """Two curators open the same caption; the second save sees the first and writes
    nothing, until it names the event it now saw."""
    con, _, captions = reviewed
    caption_id = int(captions["caption_id"][0])
    opened = decisions.get_seen_decision_event(con, caption_id)
    assert opened is None
    decisions.update_decision(
        con, caption_id, decision="drop", reason="no fish", actor="ana", seen_event=opened
    )
    with pytest.raises(decisions.ChangedMeanwhile) as refused:
        decisions.update_decision(
            con, caption_id, decision="keep", reason="fish", actor="bo", seen_event=opened
        )
    assert (refused.value.their_actor, refused.value.their_value) == ("ana", "drop")
    assert refused.value.their_reason == "no fish" and "ana changed caption" in str(refused.value)
    assert decision_db.get_decision(con, caption_id)["decision"] == "drop"  # ana's stays
    decisions.update_decision(
        con,
        caption_id,
        decision="keep",
        reason="fish",
        actor="bo",
        seen_event=refused.value.event_id,  # "apply mine anyway": bo has now seen ana's
    )
    assert decision_db.get_decision(con, caption_id)["actor"] == "bo"
    history = decisions.list_decision_history(con, caption_id=caption_id)
    assert history["actor"].to_list() == ["bo", "ana"]


def test_a_threshold_changed_meanwhile_is_refused_and_kept(reviewed):
    con, version, _ = reviewed
    opened_global = decisions.get_seen_threshold_event(con, version)
    opened_class = decisions.get_seen_threshold_event(con, version, WNIDS[0])
    decisions.update_global_threshold(
        con, model_version=version, threshold=0.3, reason="a", actor="ana", seen_event=None
    )
    with pytest.raises(decisions.ChangedMeanwhile, match="global threshold"):
        decisions.update_global_threshold(
            con,
            model_version=version,
            threshold=0.6,
            reason="b",
            actor="bo",
            seen_event=opened_global,
        )
    # A class threshold has its own history: the global change does not block it.
    decisions.update_class_threshold(
        con,
        WNIDS[0],
        model_version=version,
        threshold=0.2,
        reason="c",
        actor="bo",
        seen_event=opened_class,
    )
    with pytest.raises(decisions.ChangedMeanwhile) as refused:
        decisions.update_class_threshold(
            con,
            WNIDS[0],
            model_version=version,
            threshold=None,
            reason="d",
            actor="ana",
            seen_event=opened_class,
        )
    assert refused.value.their_value == 0.2 and refused.value.their_actor == "bo"
    assert decisions.get_thresholds(con, version) == (0.3, {WNIDS[0]: 0.2})


def test_the_drop_rule_is_per_version_and_each_rule_keeps_its_thresholds(reviewed, tmp_path):
    con, version, captions = reviewed
    assert decisions.get_drop_rule(con, version) == "paper"
    with pytest.raises(ValueError, match="needs both suspect scores"):
        decisions.update_drop_rule(
            con, model_version=version, rule="suspect", reason="try", actor="ana"
        )
    assert decisions.get_drop_rule(con, version) == "paper"  # refused: nothing written
    decisions.update_global_threshold(
        con, model_version=version, threshold=0.3, reason="paper", actor="ana"
    )
    # Suspect scores: the low-P captions (every third one) are the suspect ones.
    con.execute(
        "UPDATE relevance_scores SET suspect_wrong_class = CASE WHEN p_own < 0.5 THEN 0.8 "
        "ELSE 0.1 END, suspect_no_content = 0.05 WHERE model_version = ?",
        [version],
    )
    decisions.update_drop_rule(
        con, model_version=version, rule="suspect", reason="cleanlab-based", actor="bo"
    )
    # the suspect rule's default
    assert decisions.get_thresholds(con, version) == (rules.SUSPECT_THRESHOLD, {})
    decided = get_decided_captions(con, version)
    assert (decided.filter(pl.col("p_own") < 0.5)["decision"] == "drop").all()
    assert (decided.filter(pl.col("p_own") >= 0.5)["decision"] == "keep").all()
    decisions.update_global_threshold(
        con, model_version=version, threshold=0.9, reason="lenient", actor="bo"
    )
    assert (get_decided_captions(con, version)["decision"] == "keep").all()
    card = open(
        export_curated_set(con, model_version=version, out_dir=tmp_path / "out")["card"],
        encoding="utf-8",
    ).read()
    assert "drop rule 'suspect'" in card and ">= 0.9" in card
    decisions.update_drop_rule(con, model_version=version, rule="paper", reason="back", actor="bo")
    assert decisions.get_thresholds(con, version) == (0.3, {})  # the paper rule's, kept
    events = decision_db.list_threshold_events(con, model_version=version)
    assert events["rule"].to_list() == ["suspect", "paper"]
    assert decision_db.list_rule_events(con, version)["rule"].to_list() == ["paper", "suspect"]
