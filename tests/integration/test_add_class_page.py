"""AppTest of "Add a class": preview, background synthesis, keep, export; bad input."""

from __future__ import annotations

import pytest

from db import added_classes as added_db
from db import classes as class_db
from db import jobs as job_db
from db.connect import connect
from jobs import worker as _job_worker  # noqa: F401  (pages/jobs.py must not shadow `jobs`)
from tests.conftest import REPO_ROOT, open_page, wait_for_job
from tests.extension_helpers import insert_texts

PAGE = str(REPO_ROOT / "pages" / "add_class.py")
DESCRIPTION = "A small domestic cat with striped fur and whiskers, kept as a pet."


@pytest.fixture
def app_con(tmp_path, monkeypatch):
    from curation.catalog import seed_imagenet1k

    path = tmp_path / "app.duckdb"
    con = connect(path)
    seed_imagenet1k(con)
    insert_texts(con)
    monkeypatch.setenv("WORKBENCH_DB", str(path))
    yield con
    con.close()


@pytest.fixture
def built_con(app_con):
    from extension.text.store import run_build_text_stats

    run_build_text_stats(app_con)
    return app_con


def test_missing_text_statistics_are_built_by_a_job_not_the_page(app_con):
    from extension.text.store import get_text_stats_state

    at = open_page(PAGE, timeout=120).run()
    assert not at.exception
    assert get_text_stats_state(app_con) == "missing"  # the script run did not build them
    jobs = job_db.list_jobs(app_con, kind="text-stats")
    assert jobs.height == 1
    assert wait_for_job(app_con, int(jobs["job_id"][0]))["status"] == "succeeded"
    at.run()
    assert at.text_input(key="add-name") is not None


def test_add_class_preview_synthesize_keep_export(built_con):
    app_con = built_con
    at = open_page(PAGE, timeout=120).run()
    assert not at.exception
    at.text_input(key="add-name").input("house cat").run()
    assert at.text_input(key="add-id").placeholder == "custom-house-cat"
    at.text_area(key="add-description").input(DESCRIPTION).run()
    assert not at.exception
    table1 = at.dataframe[0].value
    assert set(table1["distance"]) == {"cosine", "euclidean"}
    assert table1["closest"][0].split(" (")[1].rstrip(")") in {
        "n02123045",
        "n02123159",
        "n02124075",
    }
    assert at.get("plotly_chart")
    at.multiselect(key="add-methods").set_value(["ridge-norm", "paper-cosine"]).run()
    at.button(key="add-synthesize").click().run()
    job = wait_for_job(app_con, at.session_state["add-class-job"])
    assert job["status"] == "succeeded", job["error"]
    at.run()
    heads = added_db.list_synthesized_heads(app_con, wnid="custom-house-cat")
    assert heads["method_label"].to_list() == ["ridge-norm", "paper-cosine"]
    at.button(key="add-keep").click().run()
    assert not at.exception
    assert class_db.get_class(app_con, "custom-house-cat") is not None
    at.button(key="add-export").click().run()
    assert not at.exception
    assert at.session_state["add-export-info"]["num_classes"] == 1001


def test_description_without_usable_tokens_is_explained(built_con):
    app_con = built_con
    at = open_page(PAGE, timeout=120).run()
    at.text_input(key="add-name").input("mystery").run()
    at.text_area(key="add-description").input("zzzq 1234 !!").run()
    assert any("no usable tokens" in e.value for e in at.error)
    assert added_db.list_added_classes(app_con).is_empty()


def test_duplicate_class_id_is_refused_before_any_job(built_con):
    app_con = built_con
    at = open_page(PAGE, timeout=120).run()
    at.text_input(key="add-name").input("tench again").run()
    at.text_input(key="add-id").input("n01440764").run()
    at.text_area(key="add-description").input(DESCRIPTION).run()
    at.button(key="add-synthesize").click().run()
    assert any("already in the catalog" in e.value for e in at.error)
    assert "add-class-job" not in at.session_state
    assert job_db.list_jobs(app_con).is_empty()


def test_table1_of_an_existing_class(built_con):
    at = open_page(PAGE, timeout=120).run()
    assert not at.exception
    box = at.selectbox(key="add-table1-class")
    tabby = next(option for option in box.options if "(n02123045)" in option)
    box.set_value(tabby).run()
    assert not at.exception
    table1 = at.dataframe[-3].value  # Table 1, then the nearest classes per distance
    assert set(table1["distance"]) == {"cosine", "euclidean"}
    assert "n02123045" not in " ".join(table1["closest"])  # never itself
