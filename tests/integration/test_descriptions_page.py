"""AppTest of the Class descriptions page on a real DuckDB file with the shipped sources."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

# AppTest puts pages/ first on sys.path, where pages/jobs.py would shadow the `jobs` package
# that ui.resources imports; importing the package first keeps the real one in sys.modules.
import jobs.worker  # noqa: F401
from curation import descriptions as desc
from tests.conftest import REPO_ROOT, open_page

PAGE = str(REPO_ROOT / "pages" / "descriptions.py")
TENCH, PAJAMA = "n01440764", "n03877472"
TENCH_WIKTIONARY = "A species of freshwater game fish, Tinca tinca."
HOSTILE = "![x](http://example.invalid/t.png) <script>alert(1)</script> **bold** :material/home:"


@pytest.fixture
def page_db(app_catalog_con):
    """A database like the demo's: catalog, shipped sources, Wiktionary active where it exists."""
    desc.import_builtin_sources(app_catalog_con)
    desc.use_source_where_unset(app_catalog_con, source="wiktionary", actor="demo")
    return app_catalog_con


def _open(curator: str = "tester", tab: str | None = None) -> AppTest:
    """The page run once, on its first tab or on `tab` (only the open tab does its work)."""
    at = open_page(PAGE, timeout=60, curator=curator)
    if tab:
        at.query_params["desc-tab"] = tab
    at.run()
    assert not at.exception, at.exception
    return at


def _history_table(at: AppTest):
    return next(d.value for d in at.dataframe if "event_id" in d.value.columns)


def test_edit_save_history_and_revert(page_db):
    at = _open(curator="page-tester")
    assert at.selectbox(key="desc-class").value == TENCH
    assert at.text_area(key="desc-edit-text").value == TENCH_WIKTIONARY
    at.text_area(key="desc-edit-text").set_value("A tench, edited on the page.")
    at.button(key="desc-save").click().run()
    assert not at.exception
    assert any("saved as revision 2" in s.value.replace("\\", "") for s in at.success)
    active = desc.get_active_description(page_db, TENCH)
    assert (active["text"], active["source"], active["updated_by"]) == (
        "A tench, edited on the page.",
        "manual",
        "page-tester",
    )
    history = _history_table(at)
    assert history["action"].tolist() == ["edit", "bulk"]
    assert history["change ([-removed-] {+added+})"].iloc[0] == (
        "A [-species of freshwater game fish, Tinca tinca.-]{+tench, edited on the page.+}"
    )
    revert_keys = [b.key for b in at.button if b.key and b.key.startswith("desc-revert-")]
    assert len(revert_keys) == 2
    at.button(key=revert_keys[0]).click().run()  # newest event: the edit
    assert not at.exception
    assert desc.get_active_description(page_db, TENCH)["text"] == TENCH_WIKTIONARY
    assert at.text_area(key="desc-edit-text").value == TENCH_WIKTIONARY
    assert _history_table(at)["action"].tolist() == ["revert", "edit", "bulk"]
    at.button(key="desc-undo").click().run()  # undo the revert
    assert desc.get_active_description(page_db, TENCH)["text"] == "A tench, edited on the page."


def test_pick_candidate_and_empty_text_is_refused(page_db):
    at = _open()
    at.button(key="desc-pick-gpt").click().run()
    assert desc.get_active_description(page_db, TENCH)["source"] == "gpt"
    assert at.text_area(key="desc-edit-text").value.startswith("A thick-bodied freshwater fish")
    at.text_area(key="desc-edit-text").set_value("   ")
    at.button(key="desc-save").click().run()
    assert any("cannot be empty" in e.value for e in at.error)
    assert desc.get_active_description(page_db, TENCH)["source"] == "gpt"


def test_filters_and_query_parameter_select_a_class(page_db):
    at = _open()
    at.checkbox(key="desc-only-unset").check().run()
    options = at.selectbox(key="desc-class").options
    assert len(options) == 6 and any(PAJAMA in o for o in options)
    at.checkbox(key="desc-only-unset").uncheck()
    at.text_input(key="desc-search").set_value("hammerhead").run()
    assert at.selectbox(key="desc-class").value == "n01494475"
    assert at.query_params["wnid"] == "n01494475"
    linked = open_page(PAGE, timeout=60)
    linked.query_params["wnid"] = PAJAMA
    linked.run()
    assert linked.selectbox(key="desc-class").value == PAJAMA
    assert linked.text_area(key="desc-edit-text").value == ""


def test_bulk_fill_needs_confirmation(page_db):
    at = _open(tab="Bulk: fill unset")
    at.selectbox(key="desc-bulk-source").set_value("wordnet").run()
    assert at.button(key="desc-bulk-apply").disabled
    assert "set 6 class descriptions" in at.checkbox(key="desc-bulk-confirm").label
    at.checkbox(key="desc-bulk-confirm").check().run()
    at.button(key="desc-bulk-apply").click().run()
    assert not at.exception
    assert desc.get_active_description(page_db, PAJAMA)["source"] == "wordnet"
    assert desc.count_unset_with_source(page_db, source="wordnet") == 0
    assert any("Set 6 class descriptions" in s.value for s in at.success)
    # Nothing left to do: the page says why instead of offering "set 0".
    assert any("Nothing to do with 'wordnet'" in t.value for t in at.text)
    assert not [c for c in at.checkbox if c.key == "desc-bulk-confirm"]


def test_dataset_text_is_never_rendered_as_markdown(page_db):
    desc.update_active_description(page_db, TENCH, text=HOSTILE, actor="<img src=x>")
    at = _open()
    markdown = [m.value for m in at.markdown] + [e.label for e in at.expander]
    markdown += [x.value for kind in (at.success, at.info, at.warning, at.error) for x in kind]
    assert not any("example.invalid" in m or "<script>" in m for m in markdown)
    assert not any("<img src=x>" in m for m in markdown)
    assert at.text_area(key="desc-edit-text").value == HOSTILE
    assert any(HOSTILE == c.value for c in at.code)
    assert not [d for d in at.dataframe if "license" in d.value.columns]  # a closed tab
    at = _open(tab="Sources and licenses")
    licenses = next(d.value for d in at.dataframe if "license" in d.value.columns)
    assert set(licenses["source"]) == {"wordnet", "wiktionary", "gpt", "wikipedia", "manual"}


def test_empty_database_says_how_to_build(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "empty.duckdb"))
    at = _open()
    assert any("No classes yet" in i.value for i in at.info)


def _in_page_order(node):
    """Every element under `node`, in the order the page shows them."""
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _in_page_order(child)


def test_a_refused_save_is_said_beside_the_save_button(page_db):
    """Issue 17: the 'name required' error showed 1,100 px above Save, out of sight."""
    at = open_page(PAGE, timeout=60, curator=None).run()  # no name typed
    at.text_area(key="desc-edit-text").set_value("A tench, edited by nobody.")
    at.button(key="desc-save").click().run()
    order = list(_in_page_order(at.main))
    save = next(i for i, e in enumerate(order) if getattr(e, "key", None) == "desc-save")
    errors = [i for i, e in enumerate(order) if type(e).__name__ == "Error"]
    assert errors and all(i > save for i in errors), (save, errors)
    assert "actor" in at.error[0].value or "name" in at.error[0].value
    assert desc.get_active_description(page_db, TENCH)["text"] == TENCH_WIKTIONARY


def test_the_class_filter_survives_a_visit_to_another_tab(page_db):
    """Only the open tab is drawn; the Classes tab's search must not be lost meanwhile."""
    at = _open()
    at.text_input(key="desc-search").input("shark").run()
    assert any("classes shown" in t.value and t.value.startswith("3 of") for t in at.text)
    at.session_state["desc-tab"] = "Sources and licenses"  # the tab a click opens
    at.run()
    assert not [t for t in at.text_input if t.key == "desc-search"]  # not drawn meanwhile
    at.session_state["desc-tab"] = "Classes"
    at.run()
    assert not at.exception
    assert at.text_input(key="desc-search").value == "shark"
