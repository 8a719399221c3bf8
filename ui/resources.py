"""Process-wide resources for the Streamlit app: one DuckDB connection, one job worker.

Pages call `get_cursor()` once per script run and pass the cursor down to library functions.
"""

from __future__ import annotations

import duckdb
import streamlit as st

from db import jobs as job_db
from db.connect import connect, resolve_db_path
from jobs.worker import JobWorker, submit_job


@st.cache_resource(show_spinner=False)
def get_connection() -> duckdb.DuckDBPyConnection:
    """The process's single connection to $WORKBENCH_DB (migrated; stale jobs marked failed)."""
    con = connect(resolve_db_path())
    job_db.fail_interrupted_jobs(con)
    return con


@st.cache_resource(show_spinner=False)
def get_worker() -> JobWorker:
    """The single background job worker thread (started once per process)."""
    return JobWorker(get_connection()).start()


def get_cursor() -> duckdb.DuckDBPyConnection:
    """A fresh cursor for this script run (a DuckDB connection is not thread-safe)."""
    return get_connection().cursor()


def start_job(kind: str, spec: dict) -> int:
    """Queue a background job and wake the worker. Returns the job id."""
    worker = get_worker()
    return submit_job(get_cursor(), kind=kind, spec=spec, worker=worker)
