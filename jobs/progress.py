"""Progress reporting from a job into the `jobs` table, with cooperative cancellation."""

from __future__ import annotations

import time

import duckdb

from db import jobs as job_db


class JobCancelled(Exception):
    """Raised inside a job when the user asked to cancel it."""


class JobProgress:
    """Callable `progress(fraction, message)` bound to one job (a `contract.progress.Progress`).

    Writes at most every `min_interval_s` seconds (except the first and the final 1.0), so a
    tight loop may call it per item. A cancel request is read with each write, so it is
    noticed by the first report at least `min_interval_s` after the previous write; the call
    then raises `JobCancelled`. Messages also go to the job's log: a new message at most every
    `log_interval_s` seconds, and always the first and the last one.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        job_id: int,
        *,
        min_interval_s: float = 0.25,
        log_interval_s: float = 2.0,
    ):
        self._con = con
        self._job_id = job_id
        self._min_interval_s = min_interval_s
        self._log_interval_s = log_interval_s
        self._last_write = float("-inf")
        self._last_log = float("-inf")
        self._logged = None

    def __call__(self, fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_write < self._min_interval_s:
            return
        self._last_write = now
        if (
            message
            and message != self._logged
            and (fraction >= 1.0 or now - self._last_log >= self._log_interval_s)
        ):
            self.log(f"{fraction:6.1%}  {message}")
            self._last_log, self._logged = now, message
        try:
            cancel_requested = job_db.update_job_progress(
                self._con, self._job_id, fraction, message
            )
        except duckdb.TransactionException:
            return  # raced with a cancel request on the same row; the next report reads it
        if cancel_requested:
            raise JobCancelled(f"job {self._job_id} was cancelled")

    def log(self, line: str) -> None:
        """Append a line to the job's log."""
        job_db.insert_job_log(self._con, self._job_id, line)
