"""Fine-tune trainer: a tiny model learns, checkpoints every epoch, resumes after an
interruption exactly where it stopped, stops early, and refuses a checkpoint of another class
set."""

from __future__ import annotations

from dataclasses import replace

import pytest

import tests.relevance_helpers as helpers
from contract.files import hash_file
from curation.relevance import checkpoint as ckpt
from curation.relevance.specs import TrainSpec
from curation.relevance.train import run_train_relevance
from db import relevance as relevance_db
from tests.relevance_helpers import fill_relevance_db, insert_caption, insert_description

tiny_encoder_dir = helpers.tiny_encoder_dir  # fixtures
torch_single_thread = helpers.torch_single_thread  # fixtures


def _spec(tmp_path, encoder_dir, name="run", **overrides) -> TrainSpec:
    return helpers.finetune_spec(tmp_path / name, encoder_dir, **overrides)


def test_two_epochs_lower_the_loss_and_record_checkpoints(con, tmp_path, tiny_encoder_dir):
    fill_relevance_db(con, per_class=12)
    seen = []
    result = run_train_relevance(
        con, _spec(tmp_path, tiny_encoder_dir), lambda f, m="": seen.append(f)
    )
    metrics = relevance_db.list_epoch_metrics(con, result["run_id"])
    assert metrics["epoch"].to_list() == [1, 2]
    assert metrics["test_loss"][1] < metrics["test_loss"][0]
    assert metrics["train_loss"][1] < metrics["train_loss"][0]
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    # 75 % of the training pairs per epoch
    assert metrics["n_train_pairs"][0] == round(0.75 * result["dataset"]["n_train_pairs"])
    versions = relevance_db.list_model_versions(con, run_id=result["run_id"])
    assert sorted(versions["epoch"].to_list()) == [1, 2]
    for row in versions.iter_rows(named=True):
        assert hash_file(row["path"]) == row["sha256"]
    run = relevance_db.get_run(con, run_id=result["run_id"])
    assert run["status"] == "finished"
    assert run["class_wnids"] == sorted(run["class_wnids"]) and len(run["class_wnids"]) == 4
    assert result["best_model_version"] in versions["model_version"].to_list()


def test_resume_after_interruption_matches_an_uninterrupted_run(con, tmp_path, tiny_encoder_dir):
    fill_relevance_db(con, per_class=8)
    full = run_train_relevance(con, _spec(tmp_path, tiny_encoder_dir, "full", epochs=3))

    class Interrupt(Exception):
        pass

    def stop_in_epoch_2(fraction, message=""):
        if message.startswith("epoch 2/3"):
            raise Interrupt

    spec = _spec(tmp_path, tiny_encoder_dir, "resumed", epochs=3)
    with pytest.raises(Interrupt):
        run_train_relevance(con, spec, stop_in_epoch_2)
    assert ckpt.list_saved_epochs(spec.checkpoint_dir) == [1]
    run = relevance_db.get_run(con, checkpoint_dir=str(tmp_path / "resumed"))
    assert run["status"] == "stopped"
    # the stopped run's epoch 1 never becomes the default; the finished run's best does
    assert relevance_db.get_default_model_version(con) == full["best_model_version"]
    resumed = run_train_relevance(con, spec)
    assert resumed["run_id"] == run["run_id"] and resumed["epochs_done"] == 3
    a = relevance_db.list_epoch_metrics(con, full["run_id"])
    b = relevance_db.list_epoch_metrics(con, resumed["run_id"])
    assert b["epoch"].to_list() == [1, 2, 3]
    for column in ("train_loss", "test_loss", "test_accuracy"):
        assert a[column].to_list() == pytest.approx(b[column].to_list(), rel=1e-5), column


def test_early_stopping_and_pruning(con, tmp_path, tiny_encoder_dir):
    fill_relevance_db(con, per_class=6)
    spec = _spec(
        tmp_path,
        tiny_encoder_dir,
        epochs=6,
        patience=2,
        learning_rate=0.0,
        head_learning_rate=0.0,
        keep_checkpoints=1,
    )
    result = run_train_relevance(con, spec)
    assert result["stopped_early"] and result["epochs_done"] == 3 and result["best_epoch"] == 1
    versions = relevance_db.list_model_versions(con, run_id=result["run_id"]).sort("epoch")
    assert versions["pruned"].to_list() == [False, True, False]  # best (1) and last (3) kept
    assert ckpt.list_saved_epochs(spec.checkpoint_dir) == [1, 3]
    again = run_train_relevance(con, spec)  # resuming a stopped-early run trains no more
    assert again["epochs_done"] == 3 and again["stopped_early"]


def test_training_into_a_checkpoint_of_another_class_set_is_refused(
    con, tmp_path, tiny_encoder_dir
):
    fill_relevance_db(con, per_class=6)
    spec = _spec(tmp_path, tiny_encoder_dir, epochs=1)
    run_train_relevance(con, spec)
    insert_description(con, "n01494475", "The hammerhead shark has a wide head. It is odd.")
    with pytest.raises(ckpt.CheckpointMismatchError, match="another class set"):
        run_train_relevance(con, spec)
    con.execute("DELETE FROM active_descriptions WHERE wnid = 'n01494475'")
    other = replace(spec, encoder="roberta-base")
    with pytest.raises(ckpt.CheckpointMismatchError, match="encoder"):
        run_train_relevance(con, other)
    insert_caption(con, "n01440764", "extra.JPEG", "one more tench caption")  # same class set
    assert run_train_relevance(con, replace(spec, epochs=2))["epochs_done"] == 2


def test_spec_round_trips_and_rejects_unknown_fields(tmp_path):
    spec = TrainSpec(checkpoint_dir=str(tmp_path), epochs=2)
    assert TrainSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="TrainSpec: unknown fields"):
        TrainSpec.from_dict({**spec.to_dict(), "epoch": 3})
    with pytest.raises(ValueError, match="precision"):
        TrainSpec(checkpoint_dir="x", precision="int8")


def test_run_left_training_by_a_killed_process_is_stopped_at_start_up(con, tmp_path):
    """A process killed mid-epoch cannot mark its run; the next start-up marks it resumable."""
    run_id = relevance_db.insert_run(
        con,
        name="killed",
        encoder="tiny",
        class_wnids=["n01440764"],
        checkpoint_dir=str(tmp_path / "killed"),
        spec={},
        dataset_report={},
    )
    assert relevance_db.get_run(con, run_id=run_id)["status"] == "training"
    assert relevance_db.stop_interrupted_runs(con) == 1
    assert relevance_db.get_run(con, run_id=run_id)["status"] == "stopped"
    assert relevance_db.stop_interrupted_runs(con) == 0
