"""Real browser, keyboard review on the Review page: the list one caption at a time, driven by
keys only (Streamlit's button shortcuts): D drops, K keeps (with the reason typed once), each
stored before the next caption shows; U undoes; the right arrow moves on."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

import tests.relevance_helpers as helpers
from db.connect import connect
from tests.browser.conftest import save_screenshot, start_app, wait_for_app
from tests.relevance_helpers import copy_db

tiny_encoder_dir = helpers.tiny_encoder_dir  # fixtures
torch_single_thread = helpers.torch_single_thread  # fixtures
frozen_scored_db = helpers.frozen_scored_db  # fixtures


@pytest.fixture
def review_app(frozen_scored_db, tmp_path):
    path, _ = frozen_scored_db
    db_path = copy_db(path, tmp_path / "review.duckdb")
    with start_app(db_path) as server:
        yield server


def test_keys_drop_keep_undo_and_move(review_app, browser_page):
    from playwright.sync_api import expect

    page, server = browser_page, review_app
    query = {
        "curator": "kb-tester",
        "tab": "Most likely wrong",
        "rr-wrong-view": "One by one (keyboard)",
    }
    page.goto(f"{server.url}/relevance_review?{urlencode(query)}", timeout=60_000)
    wait_for_app(page)
    try:
        expect(page.get_by_text("Caption 1 of 32 in this list", exact=False)).to_be_visible(
            timeout=60_000
        )
        expect(page.get_by_text("Keys: ← previous", exact=False)).to_be_visible()
        reason = page.locator(".st-key-rr-kb-wrong-class-reason input")
        reason.fill("camera settings only")
        reason.press("Enter")
        wait_for_app(page)
        page.locator("h1").first.click()  # focus off the text box: keys go to the page
        page.keyboard.press("d")
        expect(page.get_by_text("Caption 1 of 31 in this list", exact=False)).to_be_visible(
            timeout=30_000
        )
        expect(page.get_by_text(": drop (history event", exact=False)).to_be_visible()
        wait_for_app(page)
        page.keyboard.press("k")
        expect(page.get_by_text("Caption 1 of 30 in this list", exact=False)).to_be_visible(
            timeout=30_000
        )
        wait_for_app(page)
        page.keyboard.press("u")
        expect(page.get_by_text("Undone: ", exact=False)).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Caption 1 of 31 in this list", exact=False)).to_be_visible()
        wait_for_app(page)
        page.keyboard.press("ArrowRight")
        expect(page.get_by_text("Caption 2 of 31 in this list", exact=False)).to_be_visible(
            timeout=30_000
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nserver log tail:\n{server.log_tail()}") from exc
    save_screenshot(page, "browser-keyboard-review")
    server.process.terminate()
    server.process.wait(timeout=20)
    con = connect(server.db_path)
    try:
        rows = con.execute("SELECT decision FROM relevance_decisions").fetchall()
        assert rows == [("drop",)], rows
    finally:
        con.close()


def _open_keyboard_review(context, url: str, curator: str):
    """A page of the keyboard review as `curator`, reason typed, focus on the page."""
    from playwright.sync_api import expect

    page = context.new_page()
    query = {
        "curator": curator,
        "tab": "Most likely wrong",
        "rr-wrong-view": "One by one (keyboard)",
    }
    page.goto(f"{url}/relevance_review?{urlencode(query)}", timeout=60_000)
    wait_for_app(page)
    expect(page.get_by_text("Caption 1 of 32 in this list", exact=False)).to_be_visible(
        timeout=60_000
    )
    reason = page.locator(".st-key-rr-kb-wrong-class-reason input")
    reason.fill(f"{curator} looked")
    reason.press("Enter")
    wait_for_app(page)
    page.locator("h1").first.click()
    return page


def test_a_colleagues_decision_made_meanwhile_is_not_overwritten(review_app, chromium):
    """Two curators have the same caption open; the first drops it, the second's keep is
    refused with who changed it, and the first's decision stays."""
    from playwright.sync_api import expect

    server = review_app
    contexts = [chromium.new_context(viewport={"width": 1400, "height": 1100}) for _ in "ab"]
    try:
        ana = _open_keyboard_review(contexts[0], server.url, "ana")
        bo = _open_keyboard_review(contexts[1], server.url, "bo")
        ana.keyboard.press("d")
        expect(ana.get_by_text(": drop (history event", exact=False)).to_be_visible(timeout=30_000)
        bo.keyboard.press("k")  # bo's tab still shows the caption as the model decided it
        expect(bo.get_by_text("Not saved: ana changed caption", exact=False)).to_be_visible(
            timeout=30_000
        )
        save_screenshot(bo, "browser-decision-changed-meanwhile")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nserver log tail:\n{server.log_tail()}") from exc
    finally:
        for context in contexts:
            context.close()
    server.process.terminate()
    server.process.wait(timeout=20)
    con = connect(server.db_path)
    try:
        rows = con.execute("SELECT decision, actor FROM relevance_decisions").fetchall()
        assert rows == [("drop", "ana")], rows
    finally:
        con.close()
