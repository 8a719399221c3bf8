"""Background jobs: the worker thread, progress, cancel, failure, and interrupted jobs."""

from __future__ import annotations

import time

import pytest

from db import jobs as job_db
from db.connect import connect
from jobs.registry import list_job_kinds
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
