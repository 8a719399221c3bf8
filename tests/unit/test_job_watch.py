"""The process-wide job watch: one database read per `max_age_s` for every session together."""

from __future__ import annotations

import threading

import pytest

from db import jobs as job_db
from jobs.watch import JobWatch


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sessions_within_max_age_share_one_read_then_see_the_change(con):
    job_id = job_db.insert_job(con, kind="noop", spec={"steps": 1})
    clock = FakeClock()
    watch = JobWatch(con, max_age_s=1.0, clock=clock)
    first = watch.get_job(job_id)
    job_db.update_job_progress(con, job_id, 0.5, "half way")
    clock.now += 0.5
    assert watch.get_job(job_id) is first  # the same answer, no second read
    clock.now += 0.6
    assert watch.get_job(job_id)["progress"] == 0.5  # older than max_age: read again


def test_many_threads_polling_at_once_get_one_answer(con):
    job_id = job_db.insert_job(con, kind="noop", spec={"steps": 1})
    watch = JobWatch(con, max_age_s=60.0)
    answers, barrier = [], threading.Barrier(20)

    def poll() -> None:
        barrier.wait()
        answers.append(watch.read("list_jobs", limit=100))

    threads = [threading.Thread(target=poll) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 20 and len({id(a) for a in answers}) == 1
    assert answers[0]["job_id"].to_list() == [job_id]


def test_an_unknown_read_is_refused(con):
    with pytest.raises(ValueError, match="get_job"):
        JobWatch(con).read("drop_jobs")
