"""Process-wide resources for the Streamlit app: one DuckDB connection, one job worker.

Pages call `get_cursor()` once per script run and pass the cursor down to library functions.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import polars as pl
import streamlit as st

from contract.specs import JsonSpec
from db import jobs as job_db
from db import relevance as relevance_db
from db.connect import DATABASE_OPEN_ERRORS, connect, resolve_db_path
from db.sql import get_database_path
from jobs.registry import find_job_kind_of
from jobs.watch import JobWatch
from jobs.worker import JobWorker, submit_job
from ui import plain

# Page runs that may work at once. Past it, a run waits up to BUSY_AFTER_S for a slot, then
# says the server is busy (and tries again by itself) instead of piling onto the GIL.
MAX_CONCURRENT_PAGE_RUNS = 4
BUSY_AFTER_S = 20.0
_PAGE_RUN_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_PAGE_RUNS)


def get_connection() -> duckdb.DuckDBPyConnection:
    """The process's single connection to $WORKBENCH_DB (migrated; stale jobs marked failed).

    A database that cannot be opened (held by another process, not a database, too new)
    stops the page with that one line as a message, never a traceback; the next page view
    tries again.
    """
    try:
        return _open_connection(str(resolve_db_path().resolve()))
    except DATABASE_OPEN_ERRORS as exc:
        plain.error(exc)
        st.stop()


def get_worker() -> JobWorker:
    """The single background job worker thread of this database (started once per process)."""
    get_connection()  # a database that cannot be opened stops the page here, with a message
    return _start_worker(str(resolve_db_path().resolve()))


def get_job_watch() -> JobWatch:
    """The process's one watch on the jobs table, which the pages' polling fragments read
    (one database read per second for every open page together, not one per page)."""
    get_connection()
    return _open_job_watch(str(resolve_db_path().resolve()))


# Cached per database path, so tests (and a user switching $WORKBENCH_DB) never get a
# connection or worker bound to another file.
@st.cache_resource(show_spinner=False, on_release=lambda con: con.close())
def _open_connection(db_path: str) -> duckdb.DuckDBPyConnection:
    con = connect(db_path)
    job_db.fail_interrupted_jobs(con, include_queued=True)
    relevance_db.stop_interrupted_runs(con)
    _tidy_storage(con)
    return con


def _tidy_storage(con: duckdb.DuckDBPyConnection) -> None:
    """At the app's start (no job runs yet): adopt a `.cache/` of older versions, and remove
    what killed jobs left in the storage root (`contract.storage.remove_leftovers`)."""
    import sys

    from contract.storage import adopt_legacy_cache, remove_leftovers
    from db.storage import get_storage

    storage, db_path = get_storage(con), get_database_path(con)
    note = adopt_legacy_cache(storage, db_path) if db_path else None
    if note:
        print(note, file=sys.stderr)
    remove_leftovers(storage)


@st.cache_resource(show_spinner=False, on_release=lambda worker: worker.stop())
def _start_worker(db_path: str) -> JobWorker:
    return JobWorker(_open_connection(db_path)).start()


@st.cache_resource(show_spinner=False)
def _open_job_watch(db_path: str) -> JobWatch:
    return JobWatch(_open_connection(db_path))


def get_cursor() -> duckdb.DuckDBPyConnection:
    """A fresh cursor for this script run (a DuckDB connection is not thread-safe)."""
    return get_connection().cursor()


def start_job(spec: JsonSpec, *, kind: str | None = None) -> int:
    """Queue the background job a spec starts (`jobs.registry.find_job_kind_of`, or `kind`)
    and wake the worker. Returns the job id.

    Raises:
        ValueError: no kind takes the spec, or its class refuses it (nothing is queued).
    """
    from ui.widgets import get_actor

    kind = kind or find_job_kind_of(spec)
    return submit_job(
        get_cursor(), kind=kind, spec=spec.to_dict(), worker=get_worker(), actor=get_actor()
    )


def start_job_once(spec: JsonSpec) -> int:
    """The id of a queued or running job of the spec's kind, or of a new one queued now."""
    kind = find_job_kind_of(spec)
    active = job_db.list_jobs(get_cursor(), kind=kind, limit=1).filter(
        pl.col("status").is_in(job_db.ACTIVE_STATUSES)
    )
    if active.height:
        return int(active["job_id"][0])
    return start_job(spec, kind=kind)


def cancel_job(job_id: int) -> None:
    """Ask a job to stop (another person's job: admins only, checked by the library)."""
    from jobs.worker import cancel_job as cancel
    from ui.widgets import get_actor

    cancel(get_cursor(), job_id, actor=get_actor())


@contextmanager
def page_run_slot() -> Iterator[bool]:
    """Hold one of the process's page-run slots for the block.

    Yields:
        True once a slot is held (released when the block ends, however it ends), or False
        when none freed up within `BUSY_AFTER_S` seconds: the server is past capacity.
    """
    admitted = _PAGE_RUN_SLOTS.acquire(timeout=BUSY_AFTER_S)
    try:
        yield admitted
    finally:
        if admitted:
            _PAGE_RUN_SLOTS.release()


RUN_TIMINGS_ENV_VAR = "WORKBENCH_RUN_TIMINGS"  # a file: one JSON line per page run (tests)


@contextmanager
def timed_page_run(page: str) -> Iterator[None]:
    """With $WORKBENCH_RUN_TIMINGS set, append {"page", "seconds"} of each page run to that
    file: the server time of an interaction, as the browser suite records it."""
    path = os.environ.get(RUN_TIMINGS_ENV_VAR)
    start = time.perf_counter()
    try:
        yield
    finally:
        if path:
            line = json.dumps({"page": page, "seconds": round(time.perf_counter() - start, 4)})
            with open(path, "a", encoding="utf-8") as log:
                log.write(line + "\n")
