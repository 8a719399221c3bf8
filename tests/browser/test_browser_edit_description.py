"""Real browser: open the app in Debian Chromium (Playwright), edit a class description,
reload, and see the edit persisted, then confirm it in the DuckDB file. Saves a screenshot."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from curation.catalog import seed_imagenet1k
from curation.descriptions import import_builtin_sources, use_source_where_unset
from db.connect import connect
from tests.conftest import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT_DIR = REPO_ROOT / ".cache" / "test-artifacts"
WNID = "n01443537"  # goldfish

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian chromium is not installed (make test installs it)"
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(log_path: Path, n_chars: int = 4000) -> str:
    return log_path.read_text(errors="replace")[-n_chars:] if log_path.exists() else ""


def _wait_until_healthy(
    url: str, server: subprocess.Popen, log_path: Path, timeout_s: float = 90
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{_log_tail(log_path)}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(
        f"streamlit did not answer at {url} within {timeout_s} s:\n{_log_tail(log_path)}"
    )


@pytest.fixture
def app_url(tmp_path):
    db_path = tmp_path / "browser.duckdb"
    con = connect(db_path)
    seed_imagenet1k(con)
    import_builtin_sources(con)
    use_source_where_unset(con, source="wiktionary", actor="test-setup")
    con.close()  # the app's process must own the file
    port = _free_port()
    # The server's output goes to a file (a pipe nobody reads can fill up and stall it).
    log_path = tmp_path / "streamlit.log"
    log_file = log_path.open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ui.launch",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "WORKBENCH_DB": str(db_path)},
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, server, log_path)
        yield url, db_path, log_path
    finally:
        server.terminate()
        server.wait(timeout=20)
        log_file.close()


def test_edit_description_in_browser_persists_after_reload(app_url):
    from playwright.sync_api import sync_playwright

    url, db_path, log_path = app_url
    new_text = (
        "A small orange freshwater fish kept in ponds. "
        f"Edited in the browser test {time.time_ns()}."
    )
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            _edit_save_and_reload(page, url, new_text)
        except AssertionError as exc:
            page.screenshot(path=str(SCREENSHOT_DIR / "browser-failure.png"), full_page=True)
            raise AssertionError(
                f"{exc}\n(screenshot: {SCREENSHOT_DIR / 'browser-failure.png'})\n"
                f"server log tail:\n{_log_tail(log_path)}"
            ) from exc
        page.screenshot(path=str(SCREENSHOT_DIR / "browser-description-edit.png"), full_page=True)
        browser.close()
    time.sleep(0.5)
    # Stop the server (fixture teardown happens after), then read the file directly.
    assert (SCREENSHOT_DIR / "browser-description-edit.png").stat().st_size > 10_000
    _assert_persisted_after_server_stops(db_path, new_text)


def _edit_save_and_reload(page, url: str, new_text: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/descriptions?wnid={WNID}", timeout=60_000)
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
