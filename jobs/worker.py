"""The single background worker: a daemon thread that runs queued jobs one at a time.

It owns its own cursor on the process's connection and never touches Streamlit. A job's
database writes are its own business (each job keeps its writes transactional); the worker
only records status, progress, errors and results.
"""

from __future__ import annotations

import logging
import threading
import traceback

import duckdb

from db import jobs as job_db
from db.sql import rollback_if_open
from jobs.progress import JobCancelled, JobProgress
from jobs.registry import get_job_function

log = logging.getLogger(__name__)


def run_job(con: duckdb.DuckDBPyConnection, job: dict) -> str:
    """Run one claimed job to its end and record the outcome. Returns the final status.

    Progress goes through its own cursor: a job may hold one long transaction on `con`, and
    progress rows written inside it would stay invisible until it commits (and vanish with a
    rollback).
    """
    progress = JobProgress(con.cursor(), job["job_id"])
    try:
        fn = get_job_function(job["kind"])
        result = fn(con, job["spec"], progress)
    except JobCancelled:
        rollback_if_open(con)
        job_db.finish_job(con, job["job_id"], status="cancelled", error="Cancelled by the user.")
        return "cancelled"
    except Exception as exc:  # a job's failure must never kill the worker
        rollback_if_open(con)
        progress.log(traceback.format_exc())
        job_db.finish_job(con, job["job_id"], status="failed", error=f"{type(exc).__name__}: {exc}")
        return "failed"
    job_db.finish_job(con, job["job_id"], status="succeeded", result=result)
    return "succeeded"


def run_queued_jobs(con: duckdb.DuckDBPyConnection) -> int:
    """Run every queued job in order on this thread (CLI and tests). Returns how many ran."""
    ran = 0
    while (job := job_db.claim_next_job(con)) is not None:
        run_job(con, job)
        ran += 1
    return ran


class JobWorker:
    """Daemon thread polling the queue; `wake()` makes it look at once after a submit."""

    def __init__(self, con: duckdb.DuckDBPyConnection, poll_interval_s: float = 1.0):
        self._cursor = con.cursor()
        self._poll_interval_s = poll_interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="workbench-job-worker", daemon=True)

    def start(self) -> JobWorker:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run_queued_jobs(self._cursor)
            except Exception:
                log.exception("job worker loop error")
            self._wake.wait(self._poll_interval_s)
            self._wake.clear()


def submit_job(
    con: duckdb.DuckDBPyConnection, *, kind: str, spec: dict, worker: JobWorker | None = None
) -> int:
    """Queue a job after checking its kind exists; wake the worker if given. Returns the id."""
    get_job_function(kind)
    job_id = job_db.insert_job(con, kind=kind, spec=spec)
    if worker is not None:
        worker.wake()
    return job_id
