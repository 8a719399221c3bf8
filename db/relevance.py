"""SQL for caption relevance: training runs, model versions, epoch metrics and scores.

Human decisions and per-class thresholds live in `db/relevance_decisions.py`. Captions and
active descriptions are read here with our own SQL (their owners' modules are not imported).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import duckdb
import polars as pl

from contract.specs import check_choice
from db.sql import fetch_dict, fetch_frame, fetch_row, fetch_value, transaction

RUN_STATUSES = ("training", "finished", "stopped", "failed")
RUN_COLUMNS = (
    "run_id, name, encoder, class_wnids, checkpoint_dir, spec_json, dataset_json, status, "
    "created_at, updated_at, coalesce(mode, 'finetune') AS mode, source"
)


def list_caption_records(
    con: duckdb.DuckDBPyConnection,
    *,
    wnids: Sequence[str] | None = None,
    source: str | None = None,
) -> pl.DataFrame:
    """Captions as stored: caption_id, source, filename, wnid, title, description, tags.

    Args:
        wnids: only these classes (None = all). source: only this caption source (None = all).
    """
    sql = "SELECT caption_id, source, filename, wnid, title, description, tags FROM captions"
    clauses, params = [], []
    if wnids is not None:
        clauses.append("list_contains(?, wnid)")
        params.append(list(wnids))
    if source is not None:
        clauses.append("source = ?")
        params.append(source)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return fetch_frame(con, sql + where + " ORDER BY caption_id", params)


def list_caption_sources(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Caption sources that hold captions, sorted."""
    rows = con.execute("SELECT DISTINCT source FROM captions ORDER BY source").fetchall()
    return [r[0] for r in rows]


def list_active_description_texts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Active class descriptions: wnid, source, text, revision (one row per class)."""
    return fetch_frame(
        con, "SELECT wnid, source, text, revision FROM active_descriptions ORDER BY wnid"
    )


def insert_run(
    con: duckdb.DuckDBPyConnection,
    *,
    name: str,
    encoder: str,
    class_wnids: Sequence[str],
    checkpoint_dir: str,
    spec: dict,
    dataset_report: dict,
    mode: str = "finetune",
    source: str | None = None,
) -> int:
    """Record a new training run (status 'training'). Returns its id.

    Args:
        mode: 'frozen' or 'finetune'. source: the caption source trained on (None = all).
    """
    row = fetch_row(
        con,
        "INSERT INTO relevance_runs (name, encoder, class_wnids, checkpoint_dir, spec_json, "
        "dataset_json, status, mode, source) VALUES (?, ?, ?, ?, ?, ?, 'training', ?, ?) "
        "RETURNING run_id",
        [
            name,
            encoder,
            list(class_wnids),
            checkpoint_dir,
            json.dumps(spec, sort_keys=True),
            json.dumps(dataset_report, sort_keys=True),
            mode,
            source,
        ],
    )
    return int(row[0])


def update_run_report(
    con: duckdb.DuckDBPyConnection, run_id: int, *, spec: dict, dataset_report: dict
) -> None:
    """Replace a run's spec and dataset report (a frozen run restarted in its folder)."""
    con.execute(
        "UPDATE relevance_runs SET spec_json = ?, dataset_json = ?, updated_at = "
        "current_timestamp WHERE run_id = ?",
        [json.dumps(spec, sort_keys=True), json.dumps(dataset_report, sort_keys=True), run_id],
    )


def _decode_run(run: dict) -> dict:
    run["spec"] = json.loads(run.pop("spec_json"))
    run["dataset"] = json.loads(run.pop("dataset_json"))
    run["class_wnids"] = list(run["class_wnids"])
    return run


def get_run(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: int | None = None,
    checkpoint_dir: str | None = None,
) -> dict | None:
    """One run (by id or by checkpoint directory) with spec and dataset report decoded."""
    if (run_id is None) == (checkpoint_dir is None):
        raise ValueError("pass exactly one of run_id or checkpoint_dir")
    column, value = ("run_id", run_id) if run_id is not None else ("checkpoint_dir", checkpoint_dir)
    row = fetch_dict(con, f"SELECT {RUN_COLUMNS} FROM relevance_runs WHERE {column} = ?", [value])
    return _decode_run(row) if row else None


def list_runs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Training runs, newest first, with their number of classes and epochs done."""
    return fetch_frame(
        con,
        "SELECT r.run_id, r.name, coalesce(r.mode, 'finetune') AS mode, r.encoder, "
        "coalesce(r.source, '(all)') AS source, len(r.class_wnids) AS n_classes, r.status, "
        "r.checkpoint_dir, r.created_at, (SELECT count(*) FROM relevance_epoch_metrics m "
        "WHERE m.run_id = r.run_id) AS epochs_done FROM relevance_runs r ORDER BY r.run_id DESC",
    )


def update_run_status(con: duckdb.DuckDBPyConnection, run_id: int, status: str) -> None:
    """Set a run's status."""
    check_choice("status", status, RUN_STATUSES)
    con.execute(
        "UPDATE relevance_runs SET status = ?, updated_at = current_timestamp WHERE run_id = ?",
        [status, run_id],
    )


def stop_interrupted_runs(con: duckdb.DuckDBPyConnection) -> int:
    """Mark runs left 'training' by a process that ended as 'stopped' (resumable).

    Only one process can hold the database file, so at start-up such a run is stale; its last
    saved checkpoint stays usable and training it again resumes from there.

    Returns:
        How many runs were marked.
    """
    rows = con.execute(
        "UPDATE relevance_runs SET status = 'stopped', updated_at = current_timestamp "
        "WHERE status = 'training' RETURNING run_id"
    ).fetchall()
    return len(rows)


def insert_epoch(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    *,
    epoch: int,
    metrics: dict,
    path: str,
    sha256: str,
) -> int:
    """Record one finished epoch: its metrics and its checkpoint, in one transaction.

    A re-run of the same epoch (resume after a crash between checkpoint and record) replaces
    the earlier rows.

    Args:
        metrics: train_loss, test_loss, test_accuracy, n_train_pairs, seconds.

    Returns:
        The model version of the checkpoint.
    """

    def work(tx: duckdb.DuckDBPyConnection) -> int:
        insert_epoch_metrics(tx, run_id, epoch=epoch, metrics=metrics)
        return insert_model_version(
            tx,
            run_id,
            epoch=epoch,
            path=path,
            sha256=sha256,
            test_loss=metrics["test_loss"],
            test_accuracy=metrics["test_accuracy"],
        )

    return transaction(con, work)


def insert_epoch_metrics(
    con: duckdb.DuckDBPyConnection, run_id: int, *, epoch: int, metrics: dict
) -> None:
    """Record (replacing) one epoch's metrics: what the live charts read.

    Args:
        metrics: train_loss, test_loss, test_accuracy, n_train_pairs, seconds.
    """
    con.execute(
        "INSERT OR REPLACE INTO relevance_epoch_metrics (run_id, epoch, train_loss, "
        "test_loss, test_accuracy, n_train_pairs, seconds) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            epoch,
            metrics["train_loss"],
            metrics["test_loss"],
            metrics["test_accuracy"],
            metrics["n_train_pairs"],
            metrics["seconds"],
        ],
    )
    con.execute(
        "UPDATE relevance_runs SET updated_at = current_timestamp WHERE run_id = ?", [run_id]
    )


def delete_epoch_metrics(con: duckdb.DuckDBPyConnection, run_id: int) -> None:
    """Forget a run's epoch metrics (a frozen run that starts again from scratch)."""
    con.execute("DELETE FROM relevance_epoch_metrics WHERE run_id = ?", [run_id])


def insert_model_version(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    *,
    epoch: int,
    path: str,
    sha256: str,
    test_loss: float,
    test_accuracy: float,
) -> int:
    """Record (or replace) the model version of a run's epoch. Returns its number."""
    version = fetch_value(
        con,
        "INSERT INTO relevance_model_versions (run_id, epoch, path, sha256, test_loss, "
        "test_accuracy) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, epoch) DO UPDATE SET "
        "path = excluded.path, sha256 = excluded.sha256, test_loss = excluded.test_loss, "
        "test_accuracy = excluded.test_accuracy, pruned = false RETURNING model_version",
        [run_id, epoch, path, sha256, test_loss, test_accuracy],
    )
    return int(version)


def list_epoch_metrics(con: duckdb.DuckDBPyConnection, run_id: int) -> pl.DataFrame:
    """Per-epoch metrics of a run, in epoch order."""
    return fetch_frame(
        con,
        "SELECT epoch, train_loss, test_loss, test_accuracy, n_train_pairs, seconds, at_time "
        "FROM relevance_epoch_metrics WHERE run_id = ? ORDER BY epoch",
        [run_id],
    )


def list_model_versions(
    con: duckdb.DuckDBPyConnection, *, run_id: int | None = None
) -> pl.DataFrame:
    """Checkpoints (newest first) with their run's name and encoder and how many scores."""
    where, params = ("WHERE v.run_id = ?", [run_id]) if run_id is not None else ("", [])
    return fetch_frame(
        con,
        "SELECT v.model_version, v.run_id, r.name, coalesce(r.mode, 'finetune') AS mode, "
        "r.encoder, r.status AS run_status, v.epoch, v.test_loss, "
        "v.test_accuracy, v.pruned, v.path, v.sha256, v.created_at, (SELECT count(*) FROM "
        "relevance_scores s WHERE s.model_version = v.model_version) AS n_scores "
        f"FROM relevance_model_versions v JOIN relevance_runs r USING (run_id) {where} "
        "ORDER BY v.model_version DESC",
        params,
    )


def get_model_version(con: duckdb.DuckDBPyConnection, model_version: int) -> dict | None:
    """One checkpoint with its run (class_wnids, encoder, checkpoint_dir, spec)."""
    row = fetch_row(
        con,
        "SELECT run_id, epoch, path, sha256, test_loss, test_accuracy, pruned "
        "FROM relevance_model_versions WHERE model_version = ?",
        [model_version],
    )
    if row is None:
        return None
    names = ("run_id", "epoch", "path", "sha256", "test_loss", "test_accuracy", "pruned")
    version = {"model_version": model_version, **dict(zip(names, row, strict=True))}
    version["run"] = get_run(con, run_id=version["run_id"])
    return version


def get_default_model_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The best kept checkpoint (test accuracy, then loss) of the newest finished run, or None.

    A run that was cancelled, stopped or failed (or is still training) never provides the
    default: its checkpoints stay listed and can be picked by hand.
    """
    return fetch_value(
        con,
        "SELECT model_version FROM relevance_model_versions WHERE NOT pruned AND run_id = "
        "(SELECT max(v.run_id) FROM relevance_model_versions v JOIN relevance_runs r "
        "USING (run_id) WHERE r.status = 'finished') "
        "ORDER BY test_accuracy DESC NULLS LAST, test_loss ASC NULLS LAST, epoch DESC LIMIT 1",
    )


def update_model_version_pruned(con: duckdb.DuckDBPyConnection, model_version: int) -> None:
    """Mark a checkpoint's weights as deleted (its scores stay valid: the sha256 is kept)."""
    con.execute(
        "UPDATE relevance_model_versions SET pruned = true WHERE model_version = ?",
        [model_version],
    )
