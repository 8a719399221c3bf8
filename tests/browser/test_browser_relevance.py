"""Real browser, caption relevance end to end with no reload: preview the dataset, train in the
default (frozen) mode with the offline encoder, the live chart appears, score, open a caption
from the table, drop it and undo, export and download the zip. A small database (4 classes)."""

from __future__ import annotations

import io
import zipfile

import pytest

from curation.relevance.export import EXPORT_FILES
from db.connect import connect
from tests.browser.conftest import save_screenshot, start_app, wait_for_app
from tests.relevance_helpers import fill_relevance_db

CURATOR = "browser-tester"


@pytest.fixture
def relevance_app(tmp_path):
    db_path = tmp_path / "relevance.duckdb"
    con = connect(db_path)
    fill_relevance_db(con, per_class=10)
    con.close()  # the app's process must own the file
    with start_app(db_path) as server:
        yield server


def test_train_score_override_undo_export_without_reload(relevance_app, browser_page, tmp_path):
    server = relevance_app
    try:
        _train_and_score(browser_page, server.url)
        _override_and_undo(browser_page)
        _the_two_rankings_with_their_reasons(browser_page)
        _export_and_download(browser_page, tmp_path)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nserver log tail:\n{server.log_tail()}") from exc
    save_screenshot(browser_page, "browser-relevance-export")


def _train_and_score(page, url: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/relevance_train?curator={CURATOR}", timeout=60_000)
    wait_for_app(page)
    page.locator(".st-key-rt-preview button").click()
    expect(page.get_by_text("Training pairs")).to_be_visible(timeout=30_000)
    mode = page.locator(".st-key-rt-mode")
    expect(mode).to_contain_text("default here: frozen")
    expect(mode.locator("input[type='radio']").first).to_be_checked()  # frozen, first option
    # The run folder: a new one under the test database's storage root (in tmp), the default.
    page.locator(".st-key-rt-start button").click()
    # the live chart of the job's run appears by itself (the fragment polls the epochs)
    expect(page.locator("[class*='st-key-rt-live-']").first).to_be_visible(timeout=90_000)
    expect(page.get_by_text("succeeded", exact=False).first).to_be_visible(timeout=90_000)
    page.locator(".st-key-rt-score button").click()
    expect(page.get_by_text("out of sample, ", exact=False)).to_be_visible(timeout=90_000)


def _override_and_undo(page) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="Review relevance").click()
    expect(page.get_by_text("scores are out of sample", exact=False)).to_be_visible(timeout=60_000)
    page.get_by_role("tab", name="Most likely wrong").click()
    grid = page.locator(".st-key-rr-wrong [data-testid='stDataFrameResizable']")
    expect(grid).to_be_visible(timeout=30_000)
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selection box
    expect(page.get_by_text("Title: my ", exact=False)).to_be_visible(timeout=30_000)
    page.locator(".st-key-rr-wrong-choice").get_by_text("drop", exact=True).click()
    reason = page.locator(".st-key-rr-wrong-reason input")
    reason.fill("only camera settings")
    reason.press("Tab")
    page.locator(".st-key-rr-wrong-apply button").click()
    expect(page.get_by_text(": drop (history event", exact=False)).to_be_visible(timeout=30_000)
    page.locator(".st-key-rr-undo-last button").click()  # the reviewed caption left the list
    expect(page.get_by_text("Undone: ", exact=False)).to_be_visible(timeout=30_000)


def _the_two_rankings_with_their_reasons(page) -> None:
    """Issue 19: 'wrong class' (with the suggested class) and 'no class content' are two
    lists, each saying what it asks; the paper's P(own) is the third, labelled as the paper's."""
    from playwright.sync_api import expect

    expect(page.get_by_text("Filed under the wrong class?", exact=False)).to_be_visible()
    wrong_grid = page.locator(".st-key-rr-wrong [data-testid='stDataFrameResizable']")
    expect(wrong_grid).to_contain_text("suggested")
    page.locator(".st-key-rank").get_by_text("No class content", exact=True).click()
    reason = page.get_by_text("Says nothing about any class", exact=False)
    expect(reason).to_be_visible(timeout=30_000)
    expect(wrong_grid).to_contain_text("suspect_no_content")
    page.locator(".st-key-rank").get_by_text("Lowest P(own) (the paper's)", exact=True).click()
    expect(page.get_by_text("The paper's signal", exact=False)).to_be_visible(timeout=30_000)
    save_screenshot(page, "browser-relevance-rankings")


def _export_and_download(page, tmp_path) -> None:
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Export").click()
    page.locator(".st-key-rr-export button").click()
    expect(page.get_by_text("Exported ", exact=False)).to_be_visible(timeout=30_000)
    with page.expect_download(timeout=30_000) as download:
        page.locator(".st-key-rr-download button").click()
    data = download.value.path().read_bytes()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert sorted(names) == sorted(EXPORT_FILES), names  # the export's own files, only
