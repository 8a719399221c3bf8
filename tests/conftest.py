"""Shared fixtures: a migrated DuckDB file per test (DESIGN.md example 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from curation.catalog import seed_imagenet1k
from db.connect import connect

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _own_storage_root(monkeypatch):
    """Each test database keeps its files beside it: no $WORKBENCH_STORAGE from the shell, and
    none left behind by an in-process `workbench --storage` call ('' = unset)."""
    monkeypatch.setenv("WORKBENCH_STORAGE", "")


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
def app_catalog_con(catalog_con, db_path: Path, monkeypatch):
    """`catalog_con`, as the database the app's pages open (WORKBENCH_DB names its file)."""
    monkeypatch.setenv("WORKBENCH_DB", str(db_path))
    return catalog_con


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
    from jobs.worker import wait_for_job as wait

    return wait(con, job_id, timeout_s=timeout_s, poll_s=0.2)


def open_page(path, *, timeout: float = 120, curator: str | None = "tester"):
    """An AppTest of one page file, with the curator's name in the URL as the sidebar sets it."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(path), default_timeout=timeout)
    if curator:
        at.query_params["curator"] = curator
    return at


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so `browser_page` knows when its test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def chromium():
    """One Debian Chromium for the whole session, for every folder whose tests drive it
    (tests/browser, tests/security): Playwright refuses a second sync instance in a thread."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium, request):
    """A fresh browser context and page; a failing test leaves a full-page screenshot."""
    import contextlib

    from tests.browser.conftest import SCREENSHOT_DIR

    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOT_DIR / f"{request.node.name}-failure.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failure: {shot}")
    context.close()
