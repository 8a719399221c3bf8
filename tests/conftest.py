"""Shared fixtures: a migrated DuckDB file per test (DESIGN.md example 7)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from curation.catalog import seed_imagenet1k
from db.connect import connect

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "workbench.duckdb"


@pytest.fixture
def con(db_path: Path):
    """A migrated, empty database file; closed after the test."""
    connection = connect(db_path)
    yield connection
    connection.close()


@pytest.fixture
def catalog_con(con):
    """A migrated database with the 1000 ImageNet-1k classes."""
    seed_imagenet1k(con)
    return con


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED_DIR.exists():
        pytest.skip("../shared is not next to the repository")
    return SHARED_DIR


@pytest.fixture(autouse=True, scope="session")
def _release_streamlit_resources():
    """Stop job workers and close cached connections before the interpreter exits, so DuckDB
    is torn down in order (page tests run the app's `st.cache_resource` functions)."""
    yield
    import streamlit as st

    st.cache_resource.clear()


def wait_for_job(con, job_id: int, timeout_s: float = 120.0) -> dict:
    """Poll the jobs table until the job ends (the worker runs it on its own thread)."""
    from db import jobs as job_db

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = job_db.get_job(con, job_id)
        if job["status"] in job_db.FINAL_STATUSES:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish within {timeout_s} s")


def open_page(path, *, timeout: float = 120, curator: str | None = "tester"):
    """An AppTest of one page file, with the curator's name in the URL as the sidebar sets it."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(path), default_timeout=timeout)
    if curator:
        at.query_params["curator"] = curator
    return at
