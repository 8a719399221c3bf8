"""SQL for background jobs (`jobs`, `job_logs`, `job_workers`). Written by the worker, read by
pages and the CLI.

A job's shown status comes from `jobs.status`, except that a 'running' job whose worker's
heartbeat is older than `STALE_AFTER_S` is shown as 'interrupted': its process is gone (killed,
crashed, machine off), and whoever reads the table sees that at once, not only after a restart.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl

from contract.specs import check_choice
from db.sql import fetch_dict, fetch_frame, fetch_row, fetch_value, transaction

ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("succeeded", "failed", "cancelled", "interrupted")
HEARTBEAT_EVERY_S = 2.0
STALE_AFTER_S = 15.0
INTERRUPTED_ERROR = (
    "Interrupted: the process running this job ended before it finished (killed, crashed or "
    "shut down). Nothing it was writing was committed half-way; run it again."
)
# The status a reader sees: a running job without a live worker is 'interrupted'.
_SHOWN_STATUS = (
    "CASE WHEN j.status = 'running' AND (w.heartbeat_at IS NULL OR "
    f"w.heartbeat_at < current_timestamp::TIMESTAMP - INTERVAL {int(STALE_AFTER_S)} SECOND) "
    "THEN 'interrupted' ELSE j.status END"
)
_JOB_SELECT = (
    f"SELECT j.job_id, j.kind, j.spec_json, {_SHOWN_STATUS} AS status, j.progress, j.message, "
    "coalesce(j.error, CASE WHEN j.status = 'running' THEN ? END) AS error, j.result_json, "
    "j.cancel_requested, j.created_at, j.started_at, j.finished_at, j.worker_id, j.created_by, "
    # seconds since the job started, on the database's clock (the one that wrote started_at)
    "date_diff('millisecond', j.started_at, current_timestamp::TIMESTAMP) / 1000.0 AS running_s "
    "FROM jobs j LEFT JOIN job_workers w USING (worker_id)"
)


def insert_job(
    con: duckdb.DuckDBPyConnection, *, kind: str, spec: dict, created_by: str | None = None
) -> int:
    """Queue a job (`created_by`: who asked; None for work no person asked for). Returns its id."""
    row = fetch_row(
        con,
        "INSERT INTO jobs (kind, spec_json, status, created_by) VALUES (?, ?, 'queued', ?) "
        "RETURNING job_id",
        [kind, json.dumps(spec, sort_keys=True), created_by],
    )
    return int(row[0])


def get_job(con: duckdb.DuckDBPyConnection, job_id: int) -> dict | None:
    """One job as a dict (spec and result decoded, status as a reader sees it), or None."""
    job = fetch_dict(con, f"{_JOB_SELECT} WHERE j.job_id = ?", [INTERRUPTED_ERROR, job_id])
    if job is None:
        return None
    if job["status"] in ACTIVE_STATUSES:  # the placeholder error is for interrupted ones
        job["error"] = None
    job["spec"] = json.loads(job.pop("spec_json"))
    result = job.pop("result_json")
    job["result"] = json.loads(result) if result else None
    return job


def list_jobs(
    con: duckdb.DuckDBPyConnection, *, kind: str | None = None, limit: int = 50
) -> pl.DataFrame:
    """Newest jobs first (status as a reader sees it)."""
    where, params = ("WHERE j.kind = ?", [kind]) if kind else ("", [])
    frame = fetch_frame(
        con,
        f"{_JOB_SELECT} {where} ORDER BY j.job_id DESC LIMIT ?",
        [INTERRUPTED_ERROR, *params, limit],
    )
    running = pl.col("status").is_in(["queued", "running"])
    return frame.with_columns(pl.when(running).then(None).otherwise(pl.col("error")).alias("error"))


def count_active_jobs(con: duckdb.DuckDBPyConnection, *, kind: str | None = None) -> int:
    """Queued or running jobs (of one kind), interrupted ones not counted."""
    where, params = ("AND j.kind = ?", [kind]) if kind else ("", [])
    return int(
        fetch_value(
            con,
            f"SELECT count(*) FROM ({_JOB_SELECT}) j "
            f"WHERE j.status IN ('queued', 'running') {where}",
            [INTERRUPTED_ERROR, *params],
        )
    )


def insert_worker(con: duckdb.DuckDBPyConnection) -> int:
    """Register this process as a job worker. Returns its id."""
    row = fetch_row(
        con,
        "INSERT INTO job_workers (pid, host) VALUES (?, ?) RETURNING worker_id",
        [os.getpid(), socket.gethostname()],
    )
    return int(row[0])


def update_worker_heartbeat(con: duckdb.DuckDBPyConnection, worker_id: int) -> None:
    """Say the worker is alive (its heartbeat thread calls this every HEARTBEAT_EVERY_S)."""
    con.execute(
        "UPDATE job_workers SET heartbeat_at = current_timestamp WHERE worker_id = ?", [worker_id]
    )


def claim_next_job(
    con: duckdb.DuckDBPyConnection,
    worker_id: int | None = None,
    *,
    only_kinds: Sequence[str] | None = None,
    skip_kinds: Sequence[str] = (),
) -> dict | None:
    """Mark the oldest queued job as running (by `worker_id`) and return it, or None.

    Args:
        only_kinds: claim only jobs of these kinds (None: any kind).
        skip_kinds: never claim jobs of these kinds.
    """
    only = None if only_kinds is None else list(only_kinds)
    row = fetch_row(
        con,
        "UPDATE jobs SET status = 'running', started_at = current_timestamp, worker_id = ? "
        "WHERE job_id = (SELECT min(job_id) FROM jobs WHERE status = 'queued' "
        "AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], kind)) "
        "AND NOT list_contains(?::VARCHAR[], kind)) RETURNING job_id",
        [worker_id, only, only, list(skip_kinds)],
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
    """The last `limit` log lines of a job, oldest first, each prefixed with its time."""
    rows = con.execute(
        "SELECT strftime(at_time, '%H:%M:%S') || '  ' || line FROM (SELECT line, at_time, rowid "
        "FROM job_logs WHERE job_id = ? ORDER BY at_time DESC, rowid DESC LIMIT ?) "
        "ORDER BY at_time, rowid",
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
    check_choice("status", status, FINAL_STATUSES[:3])
    transaction(
        con,
        lambda tx: tx.execute(
            "UPDATE jobs SET status = ?, error = ?, result_json = ?, "
            "finished_at = current_timestamp, "
            "progress = CASE WHEN ? = 'succeeded' THEN 1.0 ELSE progress END WHERE job_id = ?",
            [status, error, json.dumps(result) if result is not None else None, status, job_id],
        ),
    )


def request_cancel(con: duckdb.DuckDBPyConnection, job_id: int) -> None:
    """Ask a job to stop: a queued job is cancelled at once, a running one at its next progress
    report (retried when the worker writes progress to the same row at that moment)."""
    transaction(
        con,
        lambda tx: tx.execute(
            "UPDATE jobs SET "
            "status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, "
            "finished_at = CASE WHEN status = 'queued' THEN current_timestamp "
            "ELSE finished_at END, cancel_requested = true "
            "WHERE job_id = ? AND status IN ('queued', 'running')",
            [job_id],
        ),
    )


def list_live_worker_ids(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Workers whose process is alive: a fresh heartbeat, and, for a worker of this host, a
    process with its id that still exists (a killed process is seen at once, not only when
    its heartbeat ages past `STALE_AFTER_S`; a reused id only delays that until then)."""
    rows = con.execute(
        "SELECT worker_id, pid, host FROM job_workers WHERE heartbeat_at >= "
        f"current_timestamp::TIMESTAMP - INTERVAL {int(STALE_AFTER_S)} SECOND"
    ).fetchall()
    here = socket.gethostname()
    return [int(w) for w, pid, host in rows if host != here or _process_exists(int(pid))]


def _process_exists(pid: int) -> bool:
    """Whether a process with this id runs on this host (a zombie, killed and not yet
    reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def fail_interrupted_jobs(con: duckdb.DuckDBPyConnection, *, include_queued: bool) -> int:
    """Record jobs whose worker is gone as failed ('interrupted'), so the table says it.

    A running job is failed when its worker is not live (`list_live_worker_ids`); a job of a
    live worker, in this process or another, is never touched.

    Args:
        include_queued: also fail queued jobs when no live worker is left to run them (at
            the app's start and in `workbench jobs list`: nobody will run them silently; a
            CLI `run-queued` keeps them, it is about to run them).

    Returns:
        How many jobs were marked.
    """
    live = list_live_worker_ids(con)
    fail_queued = include_queued and not live
    rows = con.execute(
        "UPDATE jobs SET status = 'failed', finished_at = current_timestamp, error = ? "
        "WHERE (status = 'queued' AND ?) OR (status = 'running' AND "
        "(worker_id IS NULL OR NOT list_contains(?::BIGINT[], worker_id))) RETURNING job_id",
        [INTERRUPTED_ERROR, fail_queued, live],
    ).fetchall()
    return len(rows)
