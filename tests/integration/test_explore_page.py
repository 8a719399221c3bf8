"""AppTest of the explore tabs of the Captions page on a real DuckDB file, with a tiny
encoder: before features the page offers the job (with progress), the job runs in the app's
worker, a search by meaning then lists captions, bad input is refused with a message, search
results are dropped as one bulk event and undone; duplicate groups: a cross-class exact group,
"keep one, drop the rest" and its undo."""

from __future__ import annotations

import time

import pytest

from db import jobs as job_db
from db.connect import connect

# Import the `jobs` package before AppTest puts pages/ on sys.path (pages/jobs.py).
from jobs.registry import list_job_kinds  # noqa: F401
from tests.conftest import REPO_ROOT, open_page
from tests.relevance_helpers import (  # noqa: F401 (fixtures)
    fill_relevance_db,
    insert_caption,
    tiny_encoder_dir,
    torch_single_thread,
)

PAGE = str(REPO_ROOT / "pages" / "captions.py")


@pytest.fixture
def app_db(tmp_path, monkeypatch, tiny_encoder_dir):  # noqa: F811
    path = tmp_path / "app.duckdb"
    con = connect(path)
    fill_relevance_db(con, per_class=5)
    ids = [
        insert_caption(con, "n01440764", "d1.JPEG", "Sunset at the LAKE!", "trip 2008"),
        insert_caption(con, "n01443537", "d2.JPEG", "sunset at the lake", "Trip, 2008"),
        insert_caption(con, "n01443537", "d3.JPEG", "sunset   at the lake.", "trip 2008"),
    ]
    con.close()
    monkeypatch.setenv("WORKBENCH_DB", str(path))
    monkeypatch.setenv("WORKBENCH_SEARCH_ENCODER", str(tiny_encoder_dir))
    monkeypatch.setenv("WORKBENCH_FEATURE_CACHE", str(tmp_path / "features"))
    return path, ids


def _run(at):
    at.run()
    assert not at.exception, at.exception
    return at


def _wait_for_job(kind: str, timeout_s: float = 120.0) -> dict:
    """The app's worker runs the job (the app holds the file): poll through its connection."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.5)
        job = _latest_job(kind)
        if job and job["status"] not in job_db.ACTIVE_STATUSES:
            return job
    raise AssertionError(f"job {kind} did not finish")


def _latest_job(kind: str) -> dict | None:
    from ui.resources import get_cursor

    jobs = job_db.list_jobs(get_cursor(), kind=kind, limit=1)
    return jobs.row(0, named=True) if jobs.height else None


def _decisions(at) -> list[tuple]:
    from ui.resources import get_cursor

    return (
        get_cursor()
        .execute("SELECT caption_id, decision FROM relevance_decisions ORDER BY caption_id")
        .fetchall()
    )


def _tab(at, name: str):
    at.query_params["cap-tab"] = name
    return _run(at)


def test_search_offers_features_then_finds_and_bulk_drops_with_undo(app_db):
    at = _tab(open_page(PAGE), "Search by meaning")
    infos = [i.value for i in at.info] + [e.value for e in at.error]
    assert any("feature yet" in i for i in infos), infos
    at.button(key="ex-search-features-start").click()
    _run(at)
    job = _wait_for_job("caption-features")
    assert job["status"] == "succeeded", job
    _run(at)
    at.text_input(key="ex-search-q").input("x" * 10).run()
    assert not at.exception
    at.text_input(key="ex-search-q").input("orange goldfish bowl aquarium").run()
    assert not at.exception and not at.error
    assert at.dataframe, "no results table"
    results = at.dataframe[-1].value
    assert len(results) > 5 and "similarity" in results.columns
    at.number_input(key="ex-search-k").set_value(5).run()
    at.text_input(key="ex-search-reason").input("off topic").run()
    at.button(key="ex-search-drop").click().run()
    assert not at.exception
    assert len(_decisions(at)) == 5 and {d for _, d in _decisions(at)} == {"drop"}
    at.button(key="ex-search-undo").click().run()
    assert _decisions(at) == []


def test_duplicates_keep_one_drop_rest_and_undo(app_db):
    _, ids = app_db
    at = _tab(open_page(PAGE), "Duplicate groups")
    summary = " ".join(c.value for c in at.caption)
    assert "duplicate groups" in summary and "span classes" in summary
    assert at.selectbox(key="ex-dup-group").value == 1  # the 3 identical hammerhead captions
    at.selectbox(key="ex-dup-group").set_value(2).run()  # ours: the same size, later ids
    keep = at.selectbox(key="ex-dup-keep-2")
    assert sorted(keep.options) == [str(i) for i in ids]
    keep.set_value(ids[1]).run()
    at.button(key="ex-dup-rest").click().run()
    assert not at.exception
    assert _decisions(at) == [(ids[0], "drop"), (ids[2], "drop")]
    at.button(key="ex-dup-undo").click().run()
    assert _decisions(at) == []
    at.slider(key="ex-dup-threshold").set_value(1.0).run()
    assert not at.exception
