"""AppTest of the Captions page on a real DuckDB file: render, filter, search, plain-text
record view, licenses, and an import run as a background job."""

from __future__ import annotations

import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from contract.storage import compute_storage
from curation.captions import ingest_caption_file
from curation.catalog import seed_imagenet1k
from curation.imagenet_x import ingest_imagenet_x
from db import jobs as job_db
from db.connect import connect

# Import the `jobs` package before AppTest puts pages/ on sys.path, where pages/jobs.py would
# shadow it.
from jobs.registry import list_job_kinds
from tests.conftest import REPO_ROOT, open_page

PAGE = str(REPO_ROOT / "pages" / "captions.py")
IMPORTS_FOLDER = "A file in the storage root's imports folder"
HOSTILE = "<img src=x onerror=alert(1)> **bold**"


@pytest.fixture
def app_db(tmp_path, monkeypatch, shared_dir):
    path = tmp_path / "app.duckdb"
    con = connect(path)
    seed_imagenet1k(con)
    ingest_imagenet_x(con, splits=("train",), limit=300)
    ingest_caption_file(con, shared_dir / "data" / "imagenet_captions" / "sample_records.json")
    hostile = tmp_path / "hostile.json"
    hostile.write_text(
        json.dumps(
            [
                {
                    "filename": "n01440764_1.JPEG",
                    "wnid": "n01440764",
                    "title": HOSTILE,
                    "description": "[link](http://example.com) # heading",
                    "tags": ["<b>x</b>"],
                },
            ]
        )
    )
    ingest_caption_file(con, hostile, source="hostile-test")
    con.close()
    monkeypatch.setenv("WORKBENCH_DB", str(path))
    return path


def _on_tab(tab: str):
    """The page opened on one tab (only the open tab does its work)."""
    at = open_page(PAGE, timeout=60)
    at.query_params["cap-tab"] = tab
    return at


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def _all_text(at: AppTest) -> list[str]:
    return [t.value for t in at.text] + [c.value for c in at.code]


def _wait_for_import_job(db_path, timeout_s: float = 60.0) -> dict:
    """The app's background worker runs the job: poll the jobs table until it is final."""
    con = connect(db_path)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            jobs = job_db.list_jobs(con, kind="ingest_captions", limit=1)
            if not jobs.is_empty() and jobs["status"][0] in job_db.FINAL_STATUSES:
                return job_db.get_job(con, int(jobs["job_id"][0]))
            time.sleep(0.2)
    finally:
        con.close()
    raise AssertionError("the ingest_captions job did not finish")


def test_page_renders_sources_licenses_and_captions(app_db):
    at = _run(open_page(PAGE, timeout=60))
    infos = " ".join(i.value for i in at.info)
    assert "CC BY-NC 4.0" in infos and "non-commercial" in infos
    assert any(
        t.value.startswith("imagenet-captions: 3 captions, license: Per-image Flickr")
        for t in at.text
    )
    assert "304 matching captions" in " ".join(c.value for c in at.caption)
    sources = _run(_on_tab("Sources")).dataframe[-1].value
    assert set(sources["source"]) == {"hostile-test", "imagenet-captions", "imagenet-x"}


def test_filter_by_class_and_source_and_search(app_db):
    at = _run(open_page(PAGE, timeout=60))
    at.selectbox(key="cap-class").set_value("n03146219")
    _run(at)
    assert "3 matching captions" in " ".join(c.value for c in at.caption)
    assert set(at.dataframe[0].value["wnid"]) == {"n03146219"}
    at.selectbox(key="cap-class").set_value(None)
    at.selectbox(key="cap-source").set_value("imagenet-captions")
    at.text_input(key="cap-query").set_value("GUSOKU")
    _run(at)
    assert "1 matching captions" in " ".join(c.value for c in at.caption)
    assert at.dataframe[0].value["title"].to_list() == ["Armor (Gusoku)"]


def test_hostile_caption_is_plain_text_not_markdown(app_db):
    at = open_page(PAGE, timeout=60)
    _run(at)
    at.selectbox(key="cap-source").set_value("hostile-test")
    _run(at)
    texts = _all_text(at)
    assert HOSTILE in texts
    assert "[link](http://example.com) # heading" in texts
    assert "<b>x</b>" in texts
    rendered_markdown = [m.value for m in at.markdown]
    assert not any("onerror" in m or "**bold**" in m or "<b>x</b>" in m for m in rendered_markdown)


def test_pagination_moves_through_pages(app_db):
    at = _run(open_page(PAGE, timeout=60))
    at.selectbox(key="cap-source").set_value("imagenet-x")
    _run(at)
    first = at.dataframe[0].value["caption_id"].to_list()
    assert len(first) == 50
    at.number_input(key="cap-page").set_value(2)
    _run(at)
    second = at.dataframe[0].value["caption_id"].to_list()
    assert len(second) == 50 and not set(first) & set(second)
    at.number_input(key="cap-page").set_value(6)
    _run(at)
    assert len(at.dataframe[0].value) == 50  # 300 rows: page 6 is the last full page


def test_import_from_the_imports_folder_runs_as_job_and_shows_report(app_db, tmp_path):
    assert "ingest_captions" in list_job_kinds()
    bad = tmp_path / "to_import.json"
    bad.write_text(
        json.dumps(
            [
                {
                    "filename": "n01443537_9.JPEG",
                    "wnid": "n01443537",
                    "title": "a goldfish",
                    "description": "",
                    "tags": [],
                },
                {
                    "filename": "n01443537_10.JPEG",
                    "wnid": "n99999999",
                    "title": "?",
                    "description": "",
                    "tags": [],
                },
                {"filename": 7, "wnid": "n01443537", "title": "", "description": "", "tags": []},
            ]
        )
    )
    imports = compute_storage(app_db).imports
    imports.mkdir(parents=True)
    bad.rename(imports / "mine.json")
    at = _run(_on_tab("Import ImageNet-Captions"))
    at.radio(key="cap-mode").set_value(IMPORTS_FOLDER)
    _run(at)
    assert at.selectbox(key="cap-import-file").options == ["mine.json"]
    at.text_input(key="cap-import-source").set_value("user-file")
    at.button(key="cap-import-start").click()
    _run(at)
    assert _wait_for_import_job(app_db)["status"] == "succeeded"
    _run(at)
    report = " ".join(c.value for c in at.code)
    assert "inserted 1" in report and "unknown wnid (not stored) 1" in report
    assert "filename: not a string (got number)" in report
    assert {m.label: m.value for m in at.metric}["Invalid"] == "1"


def test_the_page_takes_no_server_path_and_offers_only_the_imports_folder(app_db, tmp_path):
    """No text box for a server path; a link in imports/ that leads outside is not offered;
    with nothing to pick, Start says what to do and starts no job."""
    imports = compute_storage(app_db).imports
    imports.mkdir(parents=True)
    outside = tmp_path / "secret.json"
    outside.write_text("[]")
    (imports / "link.json").symlink_to(outside)
    at = _run(_on_tab("Import ImageNet-Captions"))
    at.radio(key="cap-mode").set_value(IMPORTS_FOLDER)
    _run(at)
    assert not [t for t in at.text_input if t.key == "cap-import-path"]
    assert any("No JSON file in the imports folder" in i.value for i in at.info)
    at.button(key="cap-import-start").click()
    _run(at)
    assert any("not started" in e.value for e in at.error)
    assert any("pick one from the imports folder" in t.value for t in at.text)
    assert job_db.list_jobs(connect(app_db), kind="ingest_captions").is_empty()


def test_page_on_an_empty_database_renders_without_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "empty.duckdb"))
    at = _run(open_page(PAGE, timeout=60))
    assert any("No caption source yet" in i.value for i in at.info)
    assert any("No captions match" in i.value for i in at.info)
    at = _run(_on_tab("Import ImageNet-Captions"))
    assert any("No ingest has run yet" in i.value for i in at.info)


def test_filters_page_and_record_come_back_from_the_url(app_db):
    first = _run(open_page(PAGE, timeout=60))
    first.selectbox(key="cap-source").set_value("imagenet-x")
    _run(first)
    first.number_input(key="cap-page").set_value(3)
    _run(first)
    shown = first.dataframe[0].value["caption_id"].to_list()
    # A reload, or a colleague opening the link: a new session with only the URL (the
    # browser writes bound widgets into it; the real-browser test checks that part).
    again = open_page(PAGE, timeout=60)
    again.query_params["cap-source"] = "imagenet-x"
    again.query_params["cap-page"] = "3"
    again.query_params["cap-record"] = str(shown[4])
    _run(again)
    assert again.selectbox(key="cap-source").value == "imagenet-x"
    assert again.number_input(key="cap-page").value == 3
    assert again.dataframe[0].value["caption_id"].to_list() == shown
    assert again.selectbox(key="cap-record").value == shown[4]


def test_a_description_import_does_not_break_the_caption_report(app_db, tmp_path):
    from curation.descriptions import import_wikipedia_file

    wiki = tmp_path / "wiki.csv"
    wiki.write_text("wnid,text\nn01440764,A tench is a fish.\n")
    con = connect(app_db)
    import_wikipedia_file(con, wiki)
    con.close()
    at = _run(_on_tab("Import ImageNet-Captions"))
    report = " ".join(c.value for c in at.code)
    assert "hostile-test" in report and "ingest run" in report and "?" not in report.split()[0:8]


def test_a_caption_shows_its_image_when_the_image_root_has_it(app_db, tmp_path):
    from curation.thumbnails import update_image_root
    from db.captions import list_captions
    from tests.relevance_helpers import make_image_root

    con = connect(app_db)
    frame, _ = list_captions(con, source="imagenet-x", limit=1)
    filename, wnid = frame["filename"][0], frame["wnid"][0]
    at = _run(open_page(PAGE, timeout=60))
    assert not at.get("image")  # no image root yet
    assert any("No image folder set" in c.value for c in at.caption)
    root = make_image_root(tmp_path / "imagenet", {filename: wnid})
    update_image_root(con, root, actor="tester")
    con.close()
    at = open_page(PAGE, timeout=60)
    at.query_params["cap-source"] = "imagenet-x"
    _run(at)
    assert at.get("image"), "the caption's photo is shown beside its text"
