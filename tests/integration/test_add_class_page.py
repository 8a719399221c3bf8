"""AppTest of "Add a class": preview, background synthesis, keep, export; bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from db import added_classes as added_db
from db import classes as class_db
from db import jobs as job_db
from db.storage import get_storage
from jobs import worker as _job_worker  # noqa: F401  (pages/jobs.py must not shadow `jobs`)
from tests.conftest import REPO_ROOT, open_page, wait_for_job
from tests.extension_helpers import insert_texts

PAGE = str(REPO_ROOT / "pages" / "add_class.py")
DESCRIPTION = "A small domestic cat with striped fur and whiskers, kept as a pet."


@pytest.fixture
def app_con(app_catalog_con):
    insert_texts(app_catalog_con)
    return app_catalog_con


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


def _latest_job(con, kind: str) -> int:
    return int(job_db.list_jobs(con, kind=kind, limit=1)["job_id"][0])


def test_add_class_preview_synthesize_keep_export(built_con):
    app_con = built_con
    at = open_page(PAGE, timeout=120).run()
    assert not at.exception
    at.text_input(key="add-name").input("house cat").run()
    assert at.text_input(key="add-id").placeholder == "custom-house-cat"
    at.text_area(key="add-description").input(DESCRIPTION).run()
    assert not at.exception
    table1 = at.dataframe[0].value
    assert {"cosine", "euclidean"} <= set(table1["distance"])  # + "embedding" once embedded
    assert table1["closest"][0].split(" (")[1].rstrip(")") in {
        "n02123045",
        "n02123159",
        "n02124075",
    }
    assert at.get("plotly_chart")
    at.multiselect(key="add-methods").set_value(["ridge-norm", "paper-cosine"]).run()
    at.button(key="add-synthesize").click().run()
    job = wait_for_job(app_con, _latest_job(app_con, "synthesize-class"))
    assert job["status"] == "succeeded", job["error"]
    at.run()  # what the finished job's rerun does
    heads = added_db.list_synthesized_heads(app_con, wnid="custom-house-cat")
    assert heads["method_label"].to_list() == ["ridge-norm", "paper-cosine"]
    assert at.selectbox(key="add-class").value == "custom-house-cat"  # the new draft, shown
    at.selectbox(key="add-primary").set_value("paper-cosine").run()
    at.button(key="add-keep").click().run()
    assert wait_for_job(app_con, _latest_job(app_con, "keep-class"))["status"] == "succeeded"
    at.run()
    assert not at.exception
    assert class_db.get_class(app_con, "custom-house-cat") is not None
    primary = added_db.list_synthesized_heads(app_con, wnid="custom-house-cat").filter("is_primary")
    assert primary["method_label"].to_list() == ["paper-cosine"]
    at.button(key="add-export").click().run()
    export = wait_for_job(app_con, _latest_job(app_con, "export-model"))
    assert export["status"] == "succeeded", export["error"]
    assert export["result"]["num_classes"] == 1001
    folder = Path(export["result"]["path"])  # a new folder under this database's storage root
    assert folder.parent == get_storage(app_con).exports
    import zipfile

    zipped = zipfile.ZipFile(export["result"]["zip"]).namelist()
    assert sorted(zipped) == export["result"]["files"]  # the export's own files, only
    at.run()
    assert not at.exception
    assert [b.label for b in at.get("download_button")] == ["Download the checkpoint (zip)"]


def test_a_draft_from_an_earlier_session_can_still_be_kept_or_discarded(built_con):
    from extension.specs import AddClassSpec
    from extension.synthesis.methods import resolve_method
    from extension.synthesis.new_class import run_add_class

    spec = AddClassSpec(
        class_id="custom-old-draft",
        name="old draft",
        description=DESCRIPTION,
        methods=(resolve_method("paper-cosine"),),
        actor="someone",
    )
    run_add_class(built_con, spec)
    at = open_page(PAGE, timeout=120).run()  # a new session: nothing in its state
    assert at.selectbox(key="add-class").value == "custom-old-draft"
    assert at.button(key="add-keep") is not None
    at.button(key="add-discard").click().run()
    assert not at.exception
    assert added_db.get_added_class(built_con, "custom-old-draft") is None
    assert any("Discarded custom-old-draft" in s.value.replace("\\", "") for s in at.success)


def test_edits_need_a_curator_name(built_con):
    at = open_page(PAGE, timeout=120, curator=None).run()
    at.text_input(key="add-name").input("house cat").run()
    at.text_area(key="add-description").input(DESCRIPTION).run()
    at.button(key="add-synthesize").click().run()
    assert any("Enter your name" in w.value for w in at.warning)
    assert job_db.list_jobs(built_con, kind="synthesize-class").is_empty()


def test_description_without_usable_tokens_is_explained(built_con):
    app_con = built_con
    at = open_page(PAGE, timeout=120).run()
    at.text_input(key="add-name").input("mystery").run()
    at.text_area(key="add-description").input("zzzq 1234 !!").run()
    assert any("no usable tokens" in e.value.replace("\\", "") for e in at.error)
    assert added_db.list_added_classes(app_con).is_empty()


def test_duplicate_class_id_is_refused_before_any_job(built_con):
    app_con = built_con
    at = open_page(PAGE, timeout=120).run()
    at.text_input(key="add-name").input("tench again").run()
    at.text_input(key="add-id").input("n01440764").run()
    at.text_area(key="add-description").input(DESCRIPTION).run()
    assert any("n01440764" in w.value for w in at.warning)  # points at the existing class
    assert at.button(key="add-synthesize").disabled  # a taken id is never reused
    assert job_db.list_jobs(app_con, kind="synthesize-class").is_empty()


def test_a_name_that_is_already_a_class_needs_add_anyway_as_a_variant(built_con):
    """Issue 17 item 4: "axolotl" (ImageNet-1k n01632777) was synthesized with no warning."""
    at = open_page(PAGE, timeout=120).run()
    at.text_input(key="add-name").input("Axolotl").run()
    at.text_area(key="add-description").input(DESCRIPTION).run()
    warnings = " ".join(w.value.replace("\\", "") for w in at.warning)
    assert "Already a class" in warnings and "n01632777" in warnings
    assert at.button(key="add-synthesize").disabled
    at.checkbox(key="add-variant").check().run()
    assert not at.button(key="add-synthesize").disabled
    at.text_input(key="add-name").input("axolotl in a tank").run()
    assert not any("Already a class" in w.value for w in at.warning)


def test_table1_of_an_existing_class(built_con):
    at = open_page(PAGE, timeout=120).run()
    assert not at.exception
    box = at.selectbox(key="add-table1-class")
    tabby = next(option for option in box.options if "(n02123045)" in option)
    box.set_value(tabby).run()
    assert not at.exception
    table1 = at.dataframe[-3].value  # Table 1, then the nearest classes per distance
    assert {"cosine", "euclidean"} <= set(table1["distance"])  # + "embedding" once embedded
    assert "n02123045" not in " ".join(table1["closest"])  # never itself


def test_a_page_left_open_queues_the_embedding_job_once_then_offers_emb_methods(
    built_con, tmp_path, monkeypatch
):
    """Issue 17 item 1: after the 'text-embeddings' job succeeded, the page's long-lived
    encoder saw a stale picture of its vector cache and queued the job again on every run."""
    from ui import extension_resources

    # A storage root of its own: an empty vector cache, so the job has texts to embed.
    monkeypatch.setenv("WORKBENCH_STORAGE", str(tmp_path / "storage"))
    extension_resources._load_text_encoder.clear()
    extension_resources._embeddings_ready.clear()
    at = open_page(PAGE, timeout=180).run()
    assert not at.exception
    first = job_db.list_jobs(built_con, kind="text-embeddings")
    assert first.height == 1
    job = wait_for_job(built_con, int(first["job_id"][0]), timeout_s=300)
    assert job["status"] == "succeeded", job["error"]
    for _ in range(4):  # the finished job's rerun, then the fragment's ticks
        at.run()
        assert not at.exception
    assert job_db.list_jobs(built_con, kind="text-embeddings").height == 1
    assert not any("being computed" in c.value for c in at.caption)
    at.text_input(key="add-name").input("house cat").run()
    at.text_area(key="add-description").input(DESCRIPTION).run()
    assert "embedding" in set(at.dataframe[0].value["distance"])  # the embedding distance is on
    assert job_db.list_jobs(built_con, kind="text-embeddings").height == 1


def test_a_second_synthesis_shows_its_own_draft(built_con):
    """Issue 17 item 5: after a second class was synthesized the page kept showing the first."""
    from extension.specs import AddClassSpec
    from extension.synthesis.methods import resolve_method
    from extension.synthesis.new_class import run_add_class

    def synthesize(class_id: str, name: str) -> None:
        spec = AddClassSpec(
            class_id=class_id,
            name=name,
            description=DESCRIPTION,
            methods=(resolve_method("paper-cosine"),),
            actor="tester",
        )
        run_add_class(built_con, spec)  # what the 'synthesize-class' job does

    synthesize("custom-first-cat", "first cat")
    at = open_page(PAGE, timeout=120).run()
    assert at.selectbox(key="add-class").value == "custom-first-cat"
    synthesize("custom-second-cat", "second cat")
    at.run()  # the finished job's rerun
    assert not at.exception
    assert at.selectbox(key="add-class").value == "custom-second-cat"
    assert any("second cat (custom-second-cat): draft" in t.value for t in at.text)
    at.selectbox(key="add-class").set_value("custom-first-cat").run()
    at.run()  # the curator's own choice sticks while nothing new appears
    assert at.selectbox(key="add-class").value == "custom-first-cat"


def test_an_existing_class_links_to_its_descriptions_in_the_app(built_con):
    """Through the router (the page link needs the navigation): the warning's link opens the
    existing class on Class descriptions."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import REPO_ROOT

    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.query_params["curator"] = "tester"
    at.run()
    at.switch_page("pages/add_class.py").run()
    at.text_input(key="add-name").input("Axolotl").run()
    assert not at.exception
    (link,) = [e for e in at.get("page_link") if "n01632777" in e.proto.label]
    assert "descriptions" in link.proto.page
    assert link.proto.query_string == "wnid=n01632777"
