"""Issue 17 in a real Chromium: a reload or a shared link with a record open, junk in the
URL's parameters. Each test serves the workbench on its own small database."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import save_screenshot, start_app, wait_for_app
from tests.browser.test_browser_flows import LONG_MS, make_database

CRASH = "This app has encountered an error"


@pytest.fixture
def server(tmp_path):
    with start_app(make_database(tmp_path / "reloads.duckdb", captions=120)) as app:
        yield app


def _record_box(page):
    return page.locator(".st-key-cap-record input[role='combobox']").first


def _open_record_list(page, options) -> None:
    """Open the record picker's list; a click while the page still reruns (a loaded machine)
    can land on a box about to be replaced, so it is tried again after the rerun."""
    for _ in range(5):
        wait_for_app(page)
        _record_box(page).click()
        try:
            expect(options.nth(2)).to_be_visible(timeout=10_000)
            return
        except AssertionError:
            page.keyboard.press("Escape")
    expect(options.nth(2)).to_be_visible()


def test_captions_reload_with_a_record_open_reopens_it(server, browser_page):
    page = browser_page
    page.goto(f"{server.url}/captions?curator=fay", timeout=LONG_MS)
    expect(page.get_by_text("matching captions").first).to_be_visible(timeout=LONG_MS)
    options = page.locator("[role='option']")
    _open_record_list(page, options)
    label = options.nth(2).inner_text()
    options.nth(2).click()
    wait_for_app(page)
    record_id = label.split(" · ")[0].strip()
    assert f"cap-record={record_id}" in page.url  # the id, never the display label
    page.reload()
    wait_for_app(page)
    expect(page.get_by_text("matching captions").first).to_be_visible(timeout=LONG_MS)
    assert page.get_by_text(CRASH).count() == 0
    expect(_record_box(page)).to_have_value(label.strip(), timeout=LONG_MS)
    page.get_by_role("tab", name="Import ImageNet-Captions").click()
    expect(page.get_by_text("Start import").first).to_be_visible(timeout=LONG_MS)
    save_screenshot(page, "reload-captions-record")


@pytest.mark.parametrize(
    "query",
    [
        "cap-record=abc",
        "cap-page=abc&cap-page-size=zz",
        "cap-record=21619+%C2%B7+ILSVRC2012_val_00022138.JPEG",  # a link from before the fix
    ],
)
def test_captions_tolerate_junk_in_the_url(server, browser_page, query):
    page = browser_page
    page.goto(f"{server.url}/captions?curator=fay&{query}", timeout=LONG_MS)
    expect(page.get_by_text("matching captions").first).to_be_visible(timeout=LONG_MS)
    wait_for_app(page)
    assert page.get_by_text(CRASH).count() == 0
    expect(page.get_by_text("One record in full").first).to_be_visible()
