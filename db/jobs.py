"""SQL for background jobs (`jobs`, `job_logs`). Written by the worker, read by pages."""

from __future__ import annotations

import json
import time

import duckdb
import polars as pl

from db.sql import fetch_frame, fetch_row

ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("succeeded", "failed", "cancelled")
JOB_COLUMNS = (
    "job_id, kind, spec_json, status, progress, message, error, result_json, "
    "cancel_requested, created_at, started_at, finished_at"
)


def insert_job(con: duckdb.DuckDBPyConnection, *, kind: str, spec: dict) -> int:
    """Queue a job. Returns its id."""
    row = fetch_row(
        con,
        "INSERT INTO jobs (kind, spec_json, status) VALUES (?, ?, 'queued') RETURNING job_id",
        [kind, json.dumps(spec, sort_keys=True)],
    )
    return int(row[0])


def get_job(con: duckdb.DuckDBPyConnection, job_id: int) -> dict | None:
    """One job as a dict (spec and result decoded), or None."""
    cur = con.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?", [job_id])
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    if not rows:
        return None
    job = dict(zip(names, rows[0], strict=True))
    job["spec"] = json.loads(job.pop("spec_json"))
    result = job.pop("result_json")
    job["result"] = json.loads(result) if result else None
    return job


def list_jobs(
    con: duckdb.DuckDBPyConnection, *, kind: str | None = None, limit: int = 50
) -> pl.DataFrame:
    """Newest jobs first."""
    where, params = ("WHERE kind = ?", [kind]) if kind else ("", [])
    return fetch_frame(
        con,
        f"SELECT {JOB_COLUMNS} FROM jobs {where} ORDER BY job_id DESC LIMIT ?",
        [*params, limit],
    )


def claim_next_job(con: duckdb.DuckDBPyConnection) -> dict | None:
    """Mark the oldest queued job as running and return it, or None when the queue is empty."""
    row = fetch_row(
        con,
        "UPDATE jobs SET status = 'running', started_at = current_timestamp "
        "WHERE job_id = (SELECT min(job_id) FROM jobs WHERE status = 'queued') RETURNING job_id",
    )
    return get_job(con, int(row[0])) if row else None


def update_job_progress(
    con: duckdb.DuckDBPyConnection, job_id: int, progress: float, message: str
) -> bool:
    """Record progress (0..1). Returns True when a cancel was requested."""
    row = fetch_row(
        con,
        "UPDATE jobs SET progress = ?, message = ? WHERE job_id = ? RETURNING cancel_requested",
        [min(max(float(progress), 0.0), 1.0), message, job_id],
    )
    return bool(row and row[0])


def insert_job_log(con: duckdb.DuckDBPyConnection, job_id: int, line: str) -> None:
    """Append one line to a job's log."""
    con.execute("INSERT INTO job_logs (job_id, line) VALUES (?, ?)", [job_id, line])


def list_job_logs(con: duckdb.DuckDBPyConnection, job_id: int, limit: int = 200) -> list[str]:
    """The last `limit` log lines of a job, oldest first."""
    rows = con.execute(
        "SELECT line FROM (SELECT line, at_time, rowid FROM job_logs WHERE job_id = ? "
        "ORDER BY at_time DESC, rowid DESC LIMIT ?) ORDER BY at_time, rowid",
        [job_id, limit],
    ).fetchall()
    return [r[0] for r in rows]


def finish_job(
    con: duckdb.DuckDBPyConnection,
    job_id: int,
    *,
    status: str,
    error: str | None = None,
    result: dict | None = None,
) -> None:
    """Set a final status ('succeeded' | 'failed' | 'cancelled')."""
    if status not in FINAL_STATUSES:
        raise ValueError(f"status must be one of {FINAL_STATUSES}, got {status!r}")
    con.execute(
        "UPDATE jobs SET status = ?, error = ?, result_json = ?, finished_at = current_timestamp, "
        "progress = CASE WHEN ? = 'succeeded' THEN 1.0 ELSE progress END WHERE job_id = ?",
        [status, error, json.dumps(result) if result is not None else None, status, job_id],
    )


def request_cancel(con: duckdb.DuckDBPyConnection, job_id: int, *, attempts: int = 5) -> None:
    """Ask a job to stop: a queued job is cancelled at once, a running one at its next progress
    report. Retries when the worker is writing progress to the same row at that moment."""
    for attempt in range(attempts):
        try:
            _request_cancel_once(con, job_id)
            return
        except duckdb.TransactionException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _request_cancel_once(con: duckdb.DuckDBPyConnection, job_id: int) -> None:
    con.execute(
        "UPDATE jobs SET status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, "
        "finished_at = CASE WHEN status = 'queued' THEN current_timestamp ELSE finished_at END, "
        "cancel_requested = true WHERE job_id = ? AND status IN ('queued', 'running')",
        [job_id],
    )


def fail_interrupted_jobs(con: duckdb.DuckDBPyConnection) -> int:
    """Mark jobs left 'running' or 'queued' by a process that ended as failed.

    Only one process can hold the database file, so at start-up any such job is stale.

    Returns:
        How many jobs were marked.
    """
    rows = con.execute(
        "UPDATE jobs SET status = 'failed', finished_at = current_timestamp, "
        "error = 'Interrupted: the workbench process ended before this job finished. '"
        " || 'Nothing it was writing was committed half-way; run it again.' "
        "WHERE status IN ('queued', 'running') RETURNING job_id"
    ).fetchall()
    return len(rows)
