"""Background jobs: the worker thread, progress, cancel, failure, and interrupted jobs."""

from __future__ import annotations

import threading
import time

import pytest

from db import jobs as job_db
from db.connect import connect
from jobs.registry import list_job_kinds, register_job
from jobs.worker import JobWorker, run_queued_jobs, submit_job


def _wait_for(con, job_id, statuses, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = job_db.get_job(con, job_id)
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} stayed {job['status']}")


def test_worker_thread_runs_a_job_and_records_result(con):
    worker = JobWorker(con, poll_interval_s=0.05).start()
    try:
        job_id = submit_job(con, kind="noop", spec={"steps": 3}, worker=worker)
        job = _wait_for(con.cursor(), job_id, {"succeeded", "failed"})
    finally:
        worker.stop()
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"] == 1.0 and job["result"] == {"steps": 3}


def test_cancel_stops_a_running_job(con):
    worker = JobWorker(con, poll_interval_s=0.05).start()
    try:
        job_id = submit_job(con, kind="noop", spec={"steps": 400, "sleep_s": 0.05}, worker=worker)
        reader = con.cursor()
        _wait_for(reader, job_id, {"running"})
        job_db.request_cancel(reader, job_id)
        job = _wait_for(reader, job_id, {"cancelled", "succeeded", "failed"})
    finally:
        worker.stop()
    assert job["status"] == "cancelled"
    assert job["progress"] < 1.0


def test_unknown_job_kind_is_refused_with_known_kinds(con):
    with pytest.raises(ValueError, match="known kinds"):
        submit_job(con, kind="does-not-exist", spec={})
    assert "noop" in list_job_kinds()


def test_failing_job_is_recorded_as_failed_and_worker_goes_on(con):
    bad = submit_job(con, kind="noop", spec={"steps": "not a number"})
    good = submit_job(con, kind="noop", spec={"steps": 1})
    assert run_queued_jobs(con) == 2
    assert job_db.get_job(con, bad)["status"] == "failed"
    assert "ValueError" in job_db.get_job(con, bad)["error"]
    assert job_db.get_job(con, good)["status"] == "succeeded"


def test_job_left_running_by_a_dead_process_is_failed_on_restart(db_path):
    con = connect(db_path)
    job_id = submit_job(con, kind="noop", spec={})
    job_db.claim_next_job(con)  # now 'running', and the "process" dies:
    con.close()
    con = connect(db_path)
    assert job_db.fail_interrupted_jobs(con) == 1
    job = job_db.get_job(con, job_id)
    assert job["status"] == "failed" and "Interrupted" in job["error"]
    con.close()


_gate = threading.Event()


@register_job("test-transactional")
def _transactional_job(con, spec: dict, progress) -> dict:
    """Holds one transaction open while reporting progress, then rolls back on cancel."""
    con.execute("BEGIN TRANSACTION")
    con.execute("CREATE TABLE IF NOT EXISTS job_scratch (x INTEGER)")
    con.execute("INSERT INTO job_scratch VALUES (1)")
    progress(0.5, "half-way, inside the transaction")
    _gate.wait(10)
    time.sleep(0.3)  # past JobProgress's write interval, so this report reads the cancel flag
    progress(0.9, "still inside")  # raises JobCancelled when the page asked to cancel
    con.execute("COMMIT")
    return {}


def test_progress_is_visible_while_a_job_holds_a_transaction_and_cancel_rolls_back(con):
    _gate.clear()
    worker = JobWorker(con, poll_interval_s=0.05).start()
    reader = con.cursor()
    try:
        job_id = submit_job(con, kind="test-transactional", spec={}, worker=worker)
        deadline = time.monotonic() + 10
        while job_db.get_job(reader, job_id)["progress"] < 0.5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert job_db.get_job(reader, job_id)["message"] == "half-way, inside the transaction"
        job_db.request_cancel(reader, job_id)
        _gate.set()
        job = _wait_for(reader, job_id, {"cancelled", "failed", "succeeded"})
    finally:
        _gate.set()
        worker.stop()
    assert job["status"] == "cancelled"
    tables = {r[0] for r in reader.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "job_scratch" not in tables  # the half-done transaction left nothing behind
