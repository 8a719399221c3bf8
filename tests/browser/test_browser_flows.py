"""Every flow of the issue, in a real Chromium, with no reload: what a new user does.

Each test serves the workbench on its own small database (the 1000 classes, the shipped class
descriptions, a few hundred ImageNet-X texts), drives the page like a person, and saves a
screenshot under `.cache/test-artifacts/` (on failure too). The server log tail is in the
failure message.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from curation.catalog import seed_imagenet1k
from curation.descriptions import import_builtin_sources, use_source_where_unset
from curation.imagenet_x import ingest_imagenet_x
from db.connect import connect
from tests.browser.conftest import (
    list_jobs_through_cli,
    save_screenshot,
    start_app,
    wait_for_app,
)

WARSHIP = (
    "A warship is a naval ship built and primarily intended for naval warfare, armed with "
    "guns and missiles; a large grey military vessel of a navy at sea."
)
# Waits on background jobs. On a fresh machine the first job pays for the first import of
# torch/timm (no bytecode cached yet) and the one-time weights conversion while Chromium and
# the server share 2 cores: minutes, not seconds. A passing wait returns as soon as it can.
LONG_MS = 300_000


def make_database(path: Path, *, captions: int = 400) -> Path:
    """A small workbench database: catalog, shipped descriptions, some ImageNet-X texts."""
    con = connect(path)
    seed_imagenet1k(con)
    import_builtin_sources(con)
    use_source_where_unset(con, source="wiktionary", actor="test-setup")
    use_source_where_unset(con, source="wordnet", actor="test-setup")
    ingest_imagenet_x(con, splits=("val",), limit=captions)
    con.close()
    return path


@pytest.fixture
def server(tmp_path):
    with start_app(make_database(tmp_path / "flows.duckdb")) as app:
        yield app


def _key(page, key: str, inner: str = ""):
    # .first: while Streamlit swaps a tab's content, the old element may linger a moment.
    return page.locator(f".st-key-{key} {inner}".strip()).first


def _fill(page, key: str, text: str, inner: str = "input") -> None:
    box = _key(page, key, inner)
    box.fill(text)
    box.press("Tab")  # commit the value before the next click


def _save_description(page, text: str) -> None:
    """Type `text` into the description editor once it shows, save, wait for the revision."""
    expect(_key(page, "desc-edit-text", "textarea")).to_be_visible(timeout=LONG_MS)
    _fill(page, "desc-edit-text", text, inner="textarea")
    _key(page, "desc-save", "button").click()
    expect(page.get_by_text("saved as revision").first).to_be_visible(timeout=LONG_MS)


def test_add_a_class_synthesize_keep_check_photos_export_and_download(server, browser_page):
    page = browser_page
    page.goto(f"{server.url}/add_class?curator=alice", timeout=LONG_MS)
    # The text statistics are built by a job; the page fills in when it is done.
    expect(_key(page, "add-name", "input")).to_be_visible(timeout=LONG_MS)
    _fill(page, "add-name", "warship")
    _fill(page, "add-description", WARSHIP, inner="textarea")
    expect(page.get_by_text("Nearest classes").first).to_be_visible(timeout=LONG_MS)
    _key(page, "add-synthesize", "button").click()
    keep = _key(page, "add-keep", "button")
    expect(keep).to_be_visible(timeout=LONG_MS)  # the finished job reran the page: no reload
    expect(page.get_by_text("warship (custom-warship): draft").first).to_be_visible()
    photo = Path(__import__("skimage").data.__file__).parent / "chelsea.png"
    _key(page, "add-photos", "input[type=file]").set_input_files(str(photo))
    _key(page, "add-check", "button").click()
    expect(page.locator("[data-testid='stImage'] img").first).to_be_visible(timeout=LONG_MS)
    expect(page.get_by_text("The new class: ").first).to_be_visible()  # its own rank
    keep.click()
    expect(page.get_by_text("warship (custom-warship): kept").first).to_be_visible(timeout=LONG_MS)
    _key(page, "add-export", "button").click()
    download_button = _key(page, "add-download", "button")
    expect(download_button).to_be_visible(timeout=LONG_MS)
    save_screenshot(page, "flow-add-class")
    with page.expect_download(timeout=LONG_MS) as info:
        download_button.click()
    target = Path(info.value.path())
    with zipfile.ZipFile(target) as archive:
        names = set(archive.namelist())
        classes = json.loads(archive.read("classes.json"))
    assert {"model.safetensors", "config.json", "classes.json", "provenance.json"} <= names
    assert classes[-1]["wnid"] == "custom-warship" and len(classes) == 1001
    _page_left_open_queues_no_embedding_job_again(page, server)
    _a_second_synthesis_shows_its_own_draft(page)


def _page_left_open_queues_no_embedding_job_again(page, server) -> None:
    """Issue 17 item 1: once the class-text embeddings were built, every open Add a class
    page queued the 'text-embeddings' job again, about every 4 s."""
    expect(page.get_by_text("are being computed")).to_have_count(0, timeout=LONG_MS)
    built = list_jobs_through_cli(server, "text-embeddings")
    assert [job["status"] for job in built] == ["succeeded"]
    page.wait_for_timeout(12_000)  # the page's timers tick; the bug queued three jobs by now
    assert list_jobs_through_cli(server, "text-embeddings") == built


def _a_second_synthesis_shows_its_own_draft(page) -> None:
    """Issue 17 item 5: after a second synthesis the page kept showing the first class."""
    _fill(page, "add-name", "capybara")
    _fill(
        page,
        "add-description",
        "The capybara is the largest living rodent, a semi-aquatic mammal of South America "
        "with brown fur that grazes on grass near rivers and lakes.",
        inner="textarea",
    )
    expect(page.get_by_text("Nearest classes").first).to_be_visible(timeout=LONG_MS)
    _key(page, "add-synthesize", "button").click()
    draft = page.get_by_text("capybara (custom-capybara): draft").first
    expect(draft).to_be_visible(timeout=LONG_MS)  # no reload
    save_screenshot(page, "flow-add-class-second")


def test_register_sample_photos_embed_run_and_see_results(server, browser_page):
    page = browser_page
    page.goto(f"{server.url}/evaluation?tab=Image+sets&curator=bo", timeout=LONG_MS)
    _key(page, "sets-samples", "button").click()
    expect(page.get_by_text("Registered set").first).to_be_visible(timeout=LONG_MS)
    _key(page, "sets-embed", "button").click()  # the next step is there without a reload
    expect(page.get_by_text("20 of 20 images embedded").first).to_be_visible(timeout=LONG_MS)
    page.get_by_role("tab", name="New run").click()
    expect(page.get_by_text("pooled: fewer than 5 images").first).to_be_visible(timeout=LONG_MS)
    expect(page.get_by_text("Few-shot baseline unavailable").first).to_be_visible()
    _key(page, "new-start", "button").click()
    expect(page.get_by_text("(evaluate)").first).to_be_visible(timeout=LONG_MS)  # queued
    page.get_by_role("tab", name="Results").click()
    expect(page.get_by_text("Pooled over small classes")).to_be_visible(timeout=LONG_MS)
    expect(page.get_by_text("Interval: bootstrap over the classes").first).to_be_visible()
    # Results open on a metric the run computed (AUROC), not on F1 (too few images here).
    expect(page.get_by_text("AUROC is threshold-free").first).to_be_visible()
    save_screenshot(page, "flow-evaluation")
    wait_for_app(page)
    metric = page.get_by_role("combobox", name="Metric")
    metric.click()
    metric.fill("F1")
    metric.press("Enter")
    expect(page.get_by_text("No per-class figure for these classes").first).to_be_visible(
        timeout=LONG_MS
    )


def test_caption_import_with_bad_records_shows_its_own_report(server, browser_page, tmp_path):
    records = [
        {
            "filename": "n01443537_1.JPEG",
            "wnid": "n01443537",
            "title": "a goldfish",
            "description": "",
            "tags": ["fish"],
        },
        {
            "filename": "n01443537_2.JPEG",
            "wnid": "n99999999",
            "title": "?",
            "description": "",
            "tags": [],
        },
        {"filename": 7, "wnid": "n01443537", "title": "", "description": "", "tags": []},
    ]
    upload = tmp_path / "mine.json"
    upload.write_text(json.dumps(records))
    page = browser_page
    page.goto(f"{server.url}/captions?cap-tab=Import+ImageNet-Captions&curator=cy", timeout=LONG_MS)
    _key(page, "cap-mode").get_by_text("Upload", exact=True).click()
    _key(page, "cap-upload", "input[type=file]").set_input_files(str(upload))
    _fill(page, "cap-import-source", "user-file")
    _key(page, "cap-import-start", "button").click()
    report = page.locator("[data-testid='stCode']").filter(has_text="mine.json")
    expect(report.first).to_be_visible(timeout=LONG_MS)
    text = report.first.inner_text()
    assert "inserted 1" in text and "unknown wnid (not stored) 1" in text
    assert "filename: not a string (got number)" in text and "ingest run ?" not in text
    save_screenshot(page, "flow-caption-import")


def test_two_tabs_see_each_others_edits_and_a_reload_keeps_filters(server, chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    first, second = context.new_page(), context.new_page()
    try:
        url = f"{server.url}/descriptions?wnid=n01443537&curator=dee"
        first.goto(url, timeout=LONG_MS)
        second.goto(url, timeout=LONG_MS)
        wait_for_app(second)
        _save_description(first, "A goldfish, edited in the first tab.")
        _fill(second, "desc-search", "goldfish")  # any interaction reruns the second tab
        expect(second.get_by_text("A goldfish, edited in the first tab.").first).to_be_visible(
            timeout=LONG_MS
        )
        second.goto(f"{server.url}/captions?curator=dee", timeout=LONG_MS)
        _fill(second, "cap-query", "dog")
        expect(second.get_by_text("matching captions").first).to_be_visible(timeout=LONG_MS)
        wait_for_app(second)
        assert "cap-query=dog" in second.url  # the search is in the URL ...
        second.reload()
        expect(_key(second, "cap-query", "input")).to_have_value("dog", timeout=LONG_MS)
        expect(second.get_by_text("Your name (recorded in history)").first).to_be_visible()
        expect(second.locator("[data-testid='stSidebar'] input").first).to_have_value("dee")
        save_screenshot(second, "flow-reload-keeps-filters")
    finally:
        context.close()


def test_no_page_asks_any_other_host(server, browser_page):
    page, foreign = browser_page, []
    page.on(
        "request",
        lambda r: (
            foreign.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:"))
            else None
        ),
    )
    for path in ("", "captions", "descriptions", "add_class", "evaluation", "job_list"):
        page.goto(f"{server.url}/{path}?curator=eve", timeout=LONG_MS)
        wait_for_app(page)
    assert foreign == []


def test_the_curator_name_sticks_across_pages_and_is_recorded(server, browser_page):
    page = browser_page
    page.goto(f"{server.url}/", timeout=LONG_MS)
    name_box = page.locator("[data-testid='stSidebar'] input").first
    expect(name_box).to_be_visible(timeout=LONG_MS)
    assert name_box.input_value() == ""  # never silently the OS user or a placeholder
    name_box.fill("alice")
    name_box.press("Enter")
    wait_for_app(page)
    page.get_by_role("link", name="Class descriptions").click()
    expect(page.locator("[data-testid='stSidebar'] input").first).to_have_value(
        "alice", timeout=LONG_MS
    )
    _save_description(page, "Edited by alice after switching pages.")
    expect(page.get_by_text("by alice").first).to_be_visible(timeout=LONG_MS)
    save_screenshot(page, "flow-identity")
