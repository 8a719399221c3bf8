"""One process-wide watch on the jobs table, read by every session's polling fragment.

A page that waits for a job redraws its status every second or two. With one database read
per open page per tick, twenty idle tabs cost twenty queries a second; through the watch,
each read (`get_job(7)`, `list_jobs(limit=100)`, ...) reaches the database at most once per
`max_age_s` for the whole process, and every session in that window gets the same answer.
The watch never calls Streamlit; `ui.resources.get_job_watch` holds the process's one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import duckdb

from db import jobs as job_db

MAX_AGE_S = 1.0
# The reads a polling page makes (db.jobs functions taking a connection first).
READS = {
    "get_job": job_db.get_job,
    "count_active_jobs": job_db.count_active_jobs,
    "list_jobs": job_db.list_jobs,
    "list_job_logs": job_db.list_job_logs,
}
_FORGET_AFTER_S = 60.0


class JobWatch:
    """Cached reads of the jobs tables, shared by every thread of the process.

    Args:
        con: the process's connection (each read uses a fresh cursor of it).
        max_age_s: how old an answer may be before the next caller reads it again.
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._con, self.max_age_s, self._clock = con, max_age_s, clock
        self._lock = threading.Lock()
        self._answers: dict[tuple, tuple[float, object]] = {}

    def read(self, name: str, *args, **kwargs):
        """`db.jobs.<name>(cursor, *args, **kwargs)` as read at most `max_age_s` ago.

        Callers must not modify the answer: other sessions get the same object.
        """
        if name not in READS:
            raise ValueError(f"unknown jobs read {name!r}; one of {sorted(READS)}")
        key = (name, args, tuple(sorted(kwargs.items())))
        with self._lock:  # one reader at a time: the others wait, then share its answer
            now = self._clock()
            at, answer = self._answers.get(key, (None, None))
            if at is None or now - at >= self.max_age_s:
                answer = READS[name](self._con.cursor(), *args, **kwargs)
                self._answers[key] = (now, answer)
                self._forget_older_than(now - _FORGET_AFTER_S)
            return answer

    def get_job(self, job_id: int) -> dict | None:
        return self.read("get_job", int(job_id))

    def _forget_older_than(self, cutoff: float) -> None:
        for key in [k for k, (at, _) in self._answers.items() if at < cutoff]:
            del self._answers[key]
