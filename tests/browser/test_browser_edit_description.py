"""Real browser: open the app in Debian Chromium (Playwright), edit a class description,
reload, and see the edit persisted, then confirm it in the DuckDB file. Saves a screenshot."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from curation.catalog import seed_imagenet1k
from curation.descriptions import import_builtin_sources, use_source_where_unset
from db.connect import connect
from tests.browser.conftest import save_screenshot, start_app

WNID = "n01443537"  # goldfish


@pytest.fixture
def app_url(tmp_path):
    db_path = tmp_path / "browser.duckdb"
    con = connect(db_path)
    seed_imagenet1k(con)
    import_builtin_sources(con)
    use_source_where_unset(con, source="wiktionary", actor="test-setup")
    con.close()  # the app's process must own the file
    with start_app(db_path) as server:
        yield server.url, db_path, server


def test_edit_description_in_browser_persists_after_reload(app_url, browser_page):
    url, db_path, server = app_url
    new_text = (
        "A small orange freshwater fish kept in ponds. "
        f"Edited in the browser test {time.time_ns()}."
    )
    try:
        _edit_save_and_reload(browser_page, url, new_text)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nserver log tail:\n{server.log_tail()}") from exc
    assert save_screenshot(browser_page, "browser-description-edit").stat().st_size > 10_000
    _assert_persisted_after_server_stops(db_path, new_text)


def _edit_save_and_reload(page, url: str, new_text: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/descriptions?wnid={WNID}&curator=browser-tester", timeout=60_000)
    editor = page.locator(".st-key-desc-edit-text textarea")
    expect(editor).to_be_visible(timeout=90_000)
    editor.fill(new_text)
    editor.press("Tab")  # commit the widget value before clicking
    page.locator(".st-key-desc-save button").click()
    expect(page.get_by_text("saved as revision", exact=False)).to_be_visible(timeout=30_000)
    page.reload()
    editor = page.locator(".st-key-desc-edit-text textarea")
    expect(editor).to_have_value(new_text, timeout=60_000)
    # The router's sidebar (sections of app.py), not Streamlit's auto-listing of pages/:
    expect(page.get_by_text("Class descriptions").first).to_be_visible()
    expect(page.get_by_role("link", name="app")).to_have_count(0)


def _assert_persisted_after_server_stops(db_path: Path, new_text: str) -> None:
    # The server still holds the file; a read-only view through a copy avoids the lock.
    import shutil
    import tempfile

    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "copy.duckdb"
        shutil.copy(db_path, copy)
        wal = Path(str(db_path) + ".wal")
        if wal.exists():
            shutil.copy(wal, Path(str(copy) + ".wal"))
        con = duckdb.connect(str(copy), read_only=True)
        rows = con.execute(
            "SELECT text, source FROM active_descriptions WHERE wnid = ?", [WNID]
        ).fetchall()
        events = con.execute(
            "SELECT action, text_after FROM description_events WHERE wnid = ? ORDER BY event_id",
            [WNID],
        ).fetchall()
        con.close()
    assert rows == [(new_text, "manual")]
    assert events[-1] == ("edit", new_text)
