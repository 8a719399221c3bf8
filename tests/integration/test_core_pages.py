"""AppTest of the Overview and Jobs pages and the router, on a real migrated DuckDB file."""

from __future__ import annotations

import pytest

from db.classes import upsert_source
from jobs.worker import run_queued_jobs, submit_job
from tests.conftest import REPO_ROOT, open_page

PAGES = REPO_ROOT / "pages"


@pytest.fixture
def app_db(app_catalog_con, db_path):
    """The app's database: the catalog, three captions of one source and a finished job."""
    con = app_catalog_con
    upsert_source(
        con,
        source="test-captions",
        kind="caption",
        title="Test captions",
        license="CC0",
        attribution="made in this test",
    )
    con.execute(
        "INSERT INTO captions (source, filename, wnid, title, description, tags) VALUES "
        "('test-captions', 'a.jpg', 'n01440764', 'a tench', '', ['fish']), "
        "('test-captions', 'b.jpg', 'n01440764', 'another tench', 'caught', []), "
        "('test-captions', 'c.jpg', 'n01443537', 'goldfish', '', [])"
    )
    submit_job(con, kind="noop", spec={"steps": 2})
    run_queued_jobs(con)
    return db_path


def test_overview_shows_counts_sources_and_distribution(app_db):
    at = open_page(str(PAGES / "overview.py"), timeout=60).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Classes"] == "1,000"
    assert metrics["Captions"] == "3"
    assert metrics["Classes with captions"] == "2"
    assert "test-captions" in at.dataframe[0].value["source"].to_list()


def test_jobs_page_lists_the_finished_job(app_db):
    at = open_page(str(PAGES / "job_list.py"), timeout=60).run()
    assert not at.exception
    assert "noop" in at.dataframe[0].value["kind"].to_list()


def test_overview_on_empty_database_says_how_to_build(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "empty.duckdb"))
    at = open_page(str(PAGES / "overview.py"), timeout=60).run()
    assert not at.exception
    assert any("No data yet" in w.value for w in at.warning)
