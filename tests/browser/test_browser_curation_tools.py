"""Real browser, the curation tools of the Captions page with no reload: compute the caption
features (a job), search by meaning and bulk-drop the results with undo; a duplicate group,
"keep one, drop the rest" and undo; the embeddings map, a lasso drawn with the mouse over
the points, the selection dropped as one bulk event and undone. The wall time of each
interaction (click or key to the result on screen) and the server time of the page runs it
caused ($WORKBENCH_RUN_TIMINGS) are written to `.cache/test-artifacts/curation-tool-timings.json`
(a record, not a threshold)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from db.connect import connect
from tests.browser.conftest import SCREENSHOT_DIR, save_screenshot, start_app, wait_for_app
from tests.relevance_helpers import (  # noqa: F401 (fixtures)
    fill_relevance_db,
    insert_caption,
    tiny_encoder_dir,
    torch_single_thread,
)

LONG_MS = 240_000


@pytest.fixture
def tools_app(tmp_path, tiny_encoder_dir):  # noqa: F811
    path = tmp_path / "tools.duckdb"
    con = connect(path)
    fill_relevance_db(con, per_class=5)
    for wnid, name in (("n01440764", "d1"), ("n01443537", "d2"), ("n01443537", "d3")):
        insert_caption(con, wnid, f"{name}.JPEG", "sunset at the lake", "trip 2008")
    con.close()
    env = {
        "WORKBENCH_RUN_TIMINGS": str(tmp_path / "runs.jsonl"),
        "WORKBENCH_SEARCH_ENCODER": str(tiny_encoder_dir),
        "WORKBENCH_FEATURE_CACHE": str(tmp_path / "features"),
    }
    with start_app(path, env=env) as server:
        yield server


def _key(page, key: str, inner: str = ""):
    return page.locator(f".st-key-{key} {inner}".strip()).first


class Timer:
    """Per interaction: wall seconds from the action to its result on screen, and the
    seconds the server spent in the page runs it caused (from the app's run log)."""

    def __init__(self, runs_log: Path, page):
        self.runs_log, self.page = runs_log, page
        self.seconds: dict[str, dict] = {}

    def _runs(self) -> list[float]:
        if not self.runs_log.exists():
            return []
        lines = self.runs_log.read_text().splitlines()
        return [json.loads(line)["seconds"] for line in lines]

    def measure(self, name: str, act, shown) -> None:
        before = len(self._runs())
        start = time.perf_counter()
        act()
        expect_visible(shown)
        wall = time.perf_counter() - start
        wait_for_app(self.page)
        runs = self._runs()[before:]
        self.seconds[name] = {
            "wall_s": round(wall, 3),
            "server_s": round(sum(runs), 3),
            "page_runs": len(runs),
        }


def expect_visible(locator) -> None:
    from playwright.sync_api import expect

    expect(locator).to_be_visible(timeout=LONG_MS)


def _type_reason(page, key: str, text: str) -> None:
    box = _key(page, key, "input")
    box.fill(text)
    box.press("Enter")
    wait_for_app(page)


def _decisions(db_path) -> list[tuple]:
    con = connect(db_path)
    try:
        return con.execute(
            "SELECT caption_id, decision FROM relevance_decisions ORDER BY caption_id"
        ).fetchall()
    finally:
        con.close()


def test_search_duplicates_and_map_lasso_without_reload(tools_app, browser_page):
    page = browser_page
    timer = Timer(tools_app.db_path.parent / "runs.jsonl", page)
    page.goto(f"{tools_app.url}/captions?curator=cu&cap-tab=Search+by+meaning", timeout=LONG_MS)
    wait_for_app(page)
    _key(page, "ex-search-features-start", "button").click()
    expect_visible(page.get_by_text("caption-features): succeeded").first)
    wait_for_app(page)

    query = _key(page, "ex-search-q", "input")
    query.fill("orange goldfish bowl aquarium")
    timer.measure(
        "search by meaning", lambda: query.press("Enter"), page.get_by_text("similarity").first
    )
    wait_for_app(page)
    _type_reason(page, "ex-search-reason", "off topic")
    timer.measure(
        "bulk drop of the results",
        lambda: _key(page, "ex-search-drop", "button").click(),
        page.get_by_text("drop (bulk event 1)").first,
    )
    wait_for_app(page)
    timer.measure(
        "undo of the bulk drop",
        lambda: _key(page, "ex-search-undo", "button").click(),
        page.get_by_text("Undid bulk event 1").first,
    )

    page.get_by_role("tab", name="Duplicate groups").click()
    wait_for_app(page)
    expect_visible(page.get_by_text("span classes").first)
    rest = _key(page, "ex-dup-rest", "button")
    expect_visible(rest)
    timer.measure(
        "keep one, drop the rest", lambda: rest.click(), page.get_by_text("(bulk event 3)").first
    )
    _key(page, "ex-dup-undo", "button").click()
    expect_visible(page.get_by_text("Undid bulk event 3").first)
    wait_for_app(page)

    page.get_by_role("tab", name="Embeddings map").click()
    chart = _key(page, "ex-map-chart", ".js-plotly-plot")
    expect_visible(chart)
    wait_for_app(page)
    box = chart.locator(".nsewdrag").first.bounding_box()  # the plot area
    left, top = box["x"] + 3, box["y"] + 3
    right, bottom = box["x"] + box["width"] - 3, box["y"] + box["height"] - 3

    def lasso_everything() -> None:
        page.mouse.move(left, top)
        page.mouse.down()
        for x, y in ((right, top), (right, bottom), (left, bottom), (left, top + 2)):
            page.mouse.move(x, y, steps=8)
        page.mouse.up()

    timer.measure("lasso on the map", lasso_everything, page.get_by_text("chosen captions").first)
    wait_for_app(page)
    save_screenshot(page, "browser-map-lasso")
    _type_reason(page, "ex-map-reason", "off-topic cluster")
    timer.measure(
        "bulk drop of the selection",
        lambda: _key(page, "ex-map-drop", "button").click(),
        page.get_by_text("drop (bulk event 5)").first,
    )
    _key(page, "ex-map-undo", "button").click()
    expect_visible(page.get_by_text("Undid bulk event 5").first)
    wait_for_app(page)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    (SCREENSHOT_DIR / "curation-tool-timings.json").write_text(json.dumps(timer.seconds, indent=1))
    tools_app.process.terminate()
    tools_app.process.wait(timeout=20)
    assert _decisions(tools_app.db_path) == []  # every change was undone
    con = connect(tools_app.db_path)
    try:
        bulk = con.execute("SELECT action FROM relevance_bulk_events ORDER BY bulk_id").fetchall()
    finally:
        con.close()
    # search drop, its undo, duplicate drop, its undo, map drop, its undo
    assert [a for (a,) in bulk] == ["bulk", "undo", "bulk", "undo", "bulk", "undo"], bulk
