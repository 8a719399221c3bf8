"""`workbench relevance ...` end to end as a new user runs it, and the job adapters."""

from __future__ import annotations

import json

import polars as pl
import pytest

import tests.relevance_helpers as helpers
from cli.main import main
from db import jobs as job_db
from db import relevance as relevance_db
from db import relevance_scores as scores_db
from db.connect import connect
from jobs.worker import run_queued_jobs, submit_job
from tests.relevance_helpers import copy_db

tiny_encoder_dir = helpers.tiny_encoder_dir  # fixtures
torch_single_thread = helpers.torch_single_thread  # fixtures
trained_db = helpers.trained_db  # fixtures


def test_cli_build_train_score_decide_export(trained_db, tiny_encoder_dir, tmp_path, capsys):
    db = str(copy_db(trained_db[0], tmp_path / "cli.duckdb"))
    assert main(["relevance", "build-dataset", "--db", db]) == 0
    report = capsys.readouterr().out
    assert '"n_skipped_short": 1' in report and '"classes_without_description"' in report
    run_dir = str(tmp_path / "cli-run")
    args = [
        "relevance",
        "train",
        "--db",
        db,
        "--mode",
        "finetune",
        "--checkpoint-dir",
        run_dir,
        "--encoder",
        str(tiny_encoder_dir),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--max-length",
        "64",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    version = json.loads(out[out.index('{\n  "run_id"') :])["best_model_version"]
    assert main(["relevance", "score", "--db", db, "--max-length", "64"]) == 0
    assert '"n_scored": 32' in capsys.readouterr().out
    assert main(["relevance", "decide", "--db", db, "1", "drop", "--reason", "noise"]) == 0
    assert main(["relevance", "decide", "--db", db, "424242", "drop", "--reason", "x"]) == 2
    assert "Caption 424242 does not exist" in capsys.readouterr().err
    assert main(["relevance", "threshold", "--db", db, "n01440764", "0.8", "--reason", "r"]) == 0
    out_dir = tmp_path / "export"
    assert (
        main(
            [
                "relevance",
                "export",
                "--db",
                db,
                "--model-version",
                str(version),
                "--out",
                str(out_dir),
            ]
        )
        == 0
    )
    frame = pl.read_parquet(out_dir / "captions.parquet")
    assert frame.filter(pl.col("caption_id") == 1)["decision"][0] == "drop"
    assert main(["relevance", "list", "--db", db]) == 0
    assert main(["relevance", "score", "--db", db, "--model-version", "999"]) == 2


def test_job_adapters_run_training_and_scoring(trained_db, tiny_encoder_dir, tmp_path):
    con = connect(copy_db(trained_db[0], tmp_path / "jobs.duckdb"))
    try:
        spec = {
            "checkpoint_dir": str(tmp_path / "job-run"),
            "encoder": str(tiny_encoder_dir),
            "epochs": 1,
            "batch_size": 8,
            "max_length": 64,
            "mode": "finetune",
        }
        train_job = submit_job(con, kind="relevance-train", spec=spec)
        run_queued_jobs(con)
        versions = relevance_db.list_model_versions(con)
        new = versions.filter(pl.col("epoch") == 1).sort("model_version")["model_version"][-1]
        score_job = submit_job(
            con, kind="relevance-score", spec={"model_version": int(new), "max_length": 64}
        )
        run_queued_jobs(con)
        for job_id in (train_job, score_job):
            job = job_db.get_job(con, job_id)
            assert job["status"] == "succeeded", job["error"]
        assert scores_db.count_scores(con, int(new)) == 32
        with pytest.raises(ValueError, match="ScoringSpec: unknown fields"):
            submit_job(con, kind="relevance-score", spec={"model_version": 1, "bogus": 1})
    finally:
        con.close()


def test_cli_frozen_mode_features_review_bulk_and_zip(tiny_encoder_dir, tmp_path, capsys):
    from tests.relevance_helpers import fill_relevance_db

    db = str(tmp_path / "frozen.duckdb")
    con = connect(db)
    fill_relevance_db(con, per_class=8)
    con.close()
    common = ["--db", db, "--encoder", str(tiny_encoder_dir), "--max-length", "64"]
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert main(["relevance", "features", *common, *cache]) == 0
    assert json.loads(capsys.readouterr().out)["n_new"] > 0
    run = ["--checkpoint-dir", str(tmp_path / "run"), "--mode", "frozen", "--epochs", "4"]
    assert main(["relevance", "train", *common, *cache, *run, "--lr", "0.03"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out[out.index('{\n  "run_id"') :])
    assert result["mode"] == "frozen" and result["features"]["n_new"] == 0
    with connect(db) as check:  # --epochs and --lr went to the frozen head
        head = relevance_db.get_run(check, run_id=result["run_id"])["spec"]["head"]
    assert (head["epochs"], head["learning_rate"]) == (4, 0.03)
    assert main(["relevance", "score", "--db", db]) == 0
    assert '"n_out_of_sample": 32' in capsys.readouterr().out
    assert main(["relevance", "wrong", "--db", db, "--limit", "3", "--kind", "paper"]) == 0
    ranked = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(ranked) == 3 and ranked[0]["p_own"] <= ranked[2]["p_own"]
    for kind, column in (
        ("wrong-class", "suspect_wrong_class"),
        ("no-content", "suspect_no_content"),
    ):
        assert main(["relevance", "wrong", "--db", db, "--limit", "3", "--kind", kind]) == 0
        ranked = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(ranked) == 3 and ranked[0][column] >= ranked[2][column]
    bulk = ["relevance", "bulk", "drop", "--db", db, "--reason", "r", "--search", "goldfish"]
    assert main([*bulk, "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("8 captions match")
    assert main([*bulk, "--actor", "ana"]) == 0
    out = capsys.readouterr().out
    assert "8 captions: drop (bulk event 1)" in out
    assert main(["relevance", "undo-bulk", "--db", db, "1", "--actor", "ana"]) == 0
    assert "Undid bulk event 1" in capsys.readouterr().out
    assert main(["relevance", "threshold", "--db", db, "global", "0.7", "--reason", "r"]) == 0
    export = ["relevance", "export", "--db", db, "--out", str(tmp_path / "ex"), "--zip"]
    assert main(export) == 0
    assert (tmp_path / "ex.zip").stat().st_size > 0
    assert main(["relevance", "train", *common, "--source", "nope"]) == 2
    assert "sources with captions: ['test']" in capsys.readouterr().err
