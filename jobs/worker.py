"""The background worker: daemon threads that run queued jobs, one at a time per lane.

Two lanes share one worker id and heartbeat. The main lane runs what people start, in the
order they started it; the prefetch lane runs the long builds the pages start on their own
(`jobs.kinds.PREFETCH_KINDS`, e.g. the sentence embeddings of every class text, minutes on a
CPU), so a click never waits behind one. Each lane owns its own cursor on the process's
connection and never touches Streamlit. A job's database writes are its own business (each
job keeps its writes transactional); the worker records status, progress, errors and
results, and a heartbeat thread says it is alive, so a reader can tell a job whose process
died (`db.jobs` shows it as 'interrupted').
"""

from __future__ import annotations

import logging
import threading
import time
import traceback

import duckdb

from curation import access
from db import jobs as job_db
from db.sql import rollback_if_open
from jobs.kinds import PREFETCH_KINDS  # (importing it registers every shipped job kind)
from jobs.progress import JobCancelled, JobProgress
from jobs.registry import get_job_kind

log = logging.getLogger(__name__)


def run_job(con: duckdb.DuckDBPyConnection, job: dict) -> str:
    """Run one claimed job to its end and record the outcome. Returns the final status.

    Progress goes through its own cursor: a job may hold one long transaction on `con`, and
    progress rows written inside it would stay invisible until it commits (and vanish with a
    rollback).
    """
    progress = JobProgress(con.cursor(), job["job_id"])
    try:
        kind = get_job_kind(job["kind"])
        result = kind.fn(con, kind.parse_spec(job["spec"]), progress)
    except JobCancelled:
        rollback_if_open(con)
        progress.log("cancelled by the user")
        job_db.finish_job(con, job["job_id"], status="cancelled", error="Cancelled by the user.")
        return "cancelled"
    except Exception as exc:  # a job's failure must never kill the worker
        rollback_if_open(con)
        progress.log(traceback.format_exc())
        job_db.finish_job(con, job["job_id"], status="failed", error=f"{type(exc).__name__}: {exc}")
        return "failed"
    progress.log("succeeded")
    job_db.finish_job(con, job["job_id"], status="succeeded", result=result)
    return "succeeded"


def run_queued_jobs(
    con: duckdb.DuckDBPyConnection,
    worker_id: int | None = None,
    *,
    only_kinds: tuple[str, ...] | None = None,
    skip_kinds: tuple[str, ...] = (),
) -> int:
    """Run every queued job (of these kinds: see `db.jobs.claim_next_job`) in order on this
    thread. Returns how many ran.

    Without a `worker_id` (the CLI's `jobs run-queued`, tests), this call registers itself as
    a worker with a heartbeat for as long as it runs.
    """
    if worker_id is None:
        with Heartbeat(con) as heartbeat:
            return run_queued_jobs(
                con, heartbeat.worker_id, only_kinds=only_kinds, skip_kinds=skip_kinds
            )
    ran = 0
    while job := job_db.claim_next_job(
        con, worker_id, only_kinds=only_kinds, skip_kinds=skip_kinds
    ):
        run_job(con, job)
        ran += 1
    return ran


class Heartbeat:
    """A registered worker id and a daemon thread writing its heartbeat (own cursor)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._cursor = con.cursor()
        self.worker_id = job_db.insert_worker(self._cursor)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="workbench-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(job_db.HEARTBEAT_EVERY_S * 2)

    def _beat(self) -> None:
        while not self._stop.wait(job_db.HEARTBEAT_EVERY_S):
            try:
                job_db.update_worker_heartbeat(self._cursor, self.worker_id)
            except duckdb.Error:
                log.exception("heartbeat write failed")


# lane name -> which jobs it claims (`run_queued_jobs` arguments)
LANES: dict[str, dict] = {
    "main": {"skip_kinds": PREFETCH_KINDS},
    "prefetch": {"only_kinds": PREFETCH_KINDS},
}


class JobWorker:
    """One daemon thread per lane polling the queue; `wake()` makes them look at once.

    Every job the app queues goes through `submit_job(..., worker=)`, which wakes the lanes,
    so the poll is only a safety net: every `poll_interval_s` seconds (5 by default, so an
    idle server spends about 0.1 % of a core on it; benchmarks/bench_sessions.py).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        poll_interval_s: float = 5.0,
        lanes: dict[str, dict] | None = None,
    ):
        self._lanes = LANES if lanes is None else lanes
        self._heartbeat = Heartbeat(con)
        self._poll_interval_s = poll_interval_s
        self._stop = threading.Event()
        self._wakes = {lane: threading.Event() for lane in self._lanes}
        self._threads = [
            threading.Thread(
                target=self._loop,
                args=(con.cursor(), lane),
                name=f"workbench-job-worker-{lane}",
                daemon=True,
            )
            for lane in self._lanes
        ]

    @property
    def worker_id(self) -> int:
        return self._heartbeat.worker_id

    def start(self) -> JobWorker:
        self._heartbeat.__enter__()
        for thread in self._threads:
            thread.start()
        return self

    def wake(self) -> None:
        for event in self._wakes.values():
            event.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout_s)
        self._heartbeat.stop()

    def _loop(self, cursor: duckdb.DuckDBPyConnection, lane: str) -> None:
        wake = self._wakes[lane]
        while not self._stop.is_set():
            try:
                run_queued_jobs(cursor, self.worker_id, **self._lanes[lane])
            except Exception:
                log.exception("job worker loop error (%s lane)", lane)
            wake.wait(self._poll_interval_s)
            wake.clear()


def submit_job(
    con: duckdb.DuckDBPyConnection,
    *,
    kind: str,
    spec: dict,
    worker: JobWorker | None = None,
    actor: str | None = None,
) -> int:
    """Queue a job after checking its kind, spec and the actor's role (`access.JOB_ACTIONS`);
    wake the worker if given. Returns the id.

    Raises:
        ValueError: unknown kind, or a spec its class refuses (nothing is queued then).
        access.AccessDenied: the actor's role may not start this kind of job.
    """
    actor = access.require_job(con, actor, kind)
    get_job_kind(kind).parse_spec(spec)
    job_id = job_db.insert_job(con, kind=kind, spec=spec, created_by=actor)
    if worker is not None:
        worker.wake()
    return job_id


def cancel_job(con: duckdb.DuckDBPyConnection, job_id: int, *, actor: str | None = None) -> None:
    """Ask a job to stop (at once when queued, at its next progress report when running).

    Raises:
        access.AccessDenied: another person's job, and the actor is not an admin.
    """
    job = job_db.get_job(con, job_id)
    access.require_cancel(con, actor, job["created_by"] if job else None)
    job_db.request_cancel(con, job_id)


def wait_for_job(
    con: duckdb.DuckDBPyConnection,
    job_id: int,
    statuses: tuple[str, ...] = job_db.FINAL_STATUSES,
    *,
    timeout_s: float = 120.0,
    poll_s: float = 0.05,
) -> dict:
    """Poll until the job's status is one of `statuses` (default: it ended). Returns the job.

    Raises:
        TimeoutError: it did not get there within `timeout_s` seconds (names the status).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        job = job_db.get_job(con, job_id)
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} stayed {job['status']} for {timeout_s:g} s")
        time.sleep(poll_s)
