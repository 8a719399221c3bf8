"""Background jobs: the worker thread, progress, cancel, failure, and interrupted jobs."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from cli.main import main
from contract.specs import JsonSpec
from db import jobs as job_db
from db.connect import connect
from jobs.registry import list_job_kinds, register_job
from jobs.worker import JobWorker, cancel_job, run_queued_jobs, submit_job, wait_for_job


def _wait_for(con, job_id, statuses, timeout_s=20.0):
    return wait_for_job(con, job_id, tuple(statuses), timeout_s=timeout_s)


@contextmanager
def _running_noop_job(con, **spec):
    """A noop job (`spec`: its NoopSpec fields) on a worker thread, once it is running.

    Yields:
        (a cursor to read and cancel with, the job id); the worker stops on exit.
    """
    worker = JobWorker(con, poll_interval_s=0.05).start()
    try:
        job_id = submit_job(con, kind="noop", spec=spec, worker=worker)
        reader = con.cursor()
        _wait_for(reader, job_id, {"running"})
        yield reader, job_id
    finally:
        worker.stop()


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
    with _running_noop_job(con, steps=400, sleep_s=0.05) as (reader, job_id):
        job_db.request_cancel(reader, job_id)
        job = _wait_for(reader, job_id, {"cancelled", "succeeded", "failed"})
    assert job["status"] == "cancelled"
    assert job["progress"] < 1.0


def test_unknown_job_kind_is_refused_with_known_kinds(con):
    with pytest.raises(ValueError, match="Unknown job kind 'does-not-exist'; known: "):
        submit_job(con, kind="does-not-exist", spec={})
    assert "noop" in list_job_kinds()


def test_a_bad_spec_is_refused_at_submit_and_nothing_is_queued(con):
    with pytest.raises(ValueError, match="NoopSpec.steps: expected int"):
        submit_job(con, kind="noop", spec={"steps": "not a number"})
    with pytest.raises(ValueError, match="unknown fields"):
        submit_job(con, kind="noop", spec={"stepz": 1})
    assert job_db.list_jobs(con).is_empty()


def test_failing_job_is_recorded_as_failed_and_worker_goes_on(con):
    bad = submit_job(con, kind="test-failing", spec={})
    good = submit_job(con, kind="noop", spec={"steps": 1})
    assert run_queued_jobs(con) == 2
    assert job_db.get_job(con, bad)["status"] == "failed"
    assert "RuntimeError: broken on purpose" in job_db.get_job(con, bad)["error"]
    assert job_db.get_job(con, good)["status"] == "succeeded"


def test_the_log_records_what_a_job_reported(con):
    job_id = submit_job(con, kind="noop", spec={"steps": 2})
    run_queued_jobs(con)
    lines = job_db.list_job_logs(con, job_id)
    assert any("step 1 of 2" in line for line in lines)
    assert any("done" in line for line in lines) and lines[-1].endswith("succeeded")


def test_a_job_whose_worker_is_gone_reads_as_interrupted_at_once(db_path, capsys):
    con = connect(db_path)
    job_id = submit_job(con, kind="noop", spec={})
    worker_id = job_db.insert_worker(con)
    job_db.claim_next_job(con, worker_id)
    assert job_db.get_job(con, job_id)["status"] == "running"  # fresh heartbeat
    # The process dies: its heartbeat ages past the limit; any reader sees it, no restart.
    con.execute(
        "UPDATE job_workers SET heartbeat_at = heartbeat_at - INTERVAL 1 MINUTE "
        "WHERE worker_id = ?",
        [worker_id],
    )
    job = job_db.get_job(con, job_id)
    assert job["status"] == "interrupted" and "Interrupted" in job["error"]
    assert job_db.count_active_jobs(con) == 0
    assert job_db.fail_interrupted_jobs(con, include_queued=False) == 1
    assert job_db.get_job(con, job_id)["status"] == "failed"
    con.close()
    assert main(["jobs", "list", "--db", str(db_path)]) == 0
    assert "Interrupted" in capsys.readouterr().out


def test_a_running_job_of_a_live_worker_is_not_failed_by_a_second_reader(con):
    with _running_noop_job(con, steps=40, sleep_s=0.05) as (reader, job_id):
        assert job_db.fail_interrupted_jobs(reader, include_queued=False) == 0
        job = _wait_for(reader, job_id, {"succeeded", "failed", "interrupted"})
    assert job["status"] == "succeeded"


@dataclass(frozen=True)
class _EmptySpec(JsonSpec):
    pass


@register_job("test-failing", spec=_EmptySpec)
def _failing_job(con, spec, progress) -> dict:
    raise RuntimeError("broken on purpose")


_gate = threading.Event()


@register_job("test-transactional", spec=_EmptySpec)
def _transactional_job(con, spec, progress) -> dict:
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


_prefetch_gate = threading.Event()


@register_job("test-prefetch", spec=_EmptySpec)
def _test_prefetch(con, spec, progress):
    progress(0.1, "a long build")
    assert _prefetch_gate.wait(20), "the test never let the build finish"
    return {}


def test_a_clicked_job_runs_while_a_long_prefetch_build_is_running(con):
    from jobs.kinds import PREFETCH_KINDS
    from jobs.worker import LANES

    assert {"text-embeddings", "caption-features"} <= set(PREFETCH_KINDS)
    assert LANES["prefetch"]["only_kinds"] == LANES["main"]["skip_kinds"] == PREFETCH_KINDS
    lanes = {
        "main": {"skip_kinds": ("test-prefetch",)},
        "prefetch": {"only_kinds": ("test-prefetch",)},
    }
    _prefetch_gate.clear()
    worker = JobWorker(con, poll_interval_s=0.05, lanes=lanes).start()
    reader = con.cursor()
    try:
        build = submit_job(con, kind="test-prefetch", spec={}, worker=worker)
        _wait_for(reader, build, {"running"})
        clicked = submit_job(con, kind="noop", spec={"steps": 2}, worker=worker)
        assert _wait_for(reader, clicked, {"succeeded", "failed"})["status"] == "succeeded"
        assert job_db.get_job(reader, build)["status"] == "running"  # still building
    finally:
        _prefetch_gate.set()
        worker.stop()
    assert _wait_for(reader, build, {"succeeded", "failed"})["status"] == "succeeded"


_ran: list[int] = []


@register_job("test-records-run", spec=_EmptySpec)
def _records_run(con, spec, progress) -> dict:
    _ran.append(1)
    return {}


def test_a_queued_job_cancelled_before_a_worker_claims_it_never_runs(con):
    _ran.clear()
    cancelled = submit_job(con, kind="test-records-run", spec={})
    cancel_job(con, cancelled)
    job = job_db.get_job(con, cancelled)
    assert job["status"] == "cancelled" and job["finished_at"] is not None
    assert job_db.claim_next_job(con) is None  # the worker finds nothing to claim
    later = submit_job(con, kind="noop", spec={"steps": 1})
    assert run_queued_jobs(con) == 1  # only the job queued after it
    assert _ran == []
    assert job_db.get_job(con, cancelled)["status"] == "cancelled"
    assert job_db.get_job(con, cancelled)["started_at"] is None
    assert job_db.get_job(con, later)["status"] == "succeeded"


def test_a_spec_names_the_job_it_starts():
    """`start_job(spec)`: every shipped kind is found from its spec class alone; a class
    that several kinds take must be given its kind."""
    from jobs.kinds import LIBRARY_JOBS
    from jobs.registry import find_job_kind_of

    found = 0
    for kind, (spec_class, _, _) in LIBRARY_JOBS.items():
        try:
            spec = spec_class()
        except TypeError:  # required fields: the class is enough to find the kind
            spec = object.__new__(spec_class)
        assert find_job_kind_of(spec) == kind
        found += 1
    assert found == len(LIBRARY_JOBS) >= 10
    with pytest.raises(ValueError, match="test-failing"):
        find_job_kind_of(_EmptySpec())
