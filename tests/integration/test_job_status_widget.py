"""AppTests of `ui.widgets`: a job that finishes while the page runs; defaults that change."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

# A page with one running job's status above a button. With `finish` set, the job finishes
# between the widget's first look at it and its fragment's (what a worker thread does when
# its job ends while the curator's click is being handled).
PAGE = """
import streamlit as st
from db import jobs as job_db
from ui.resources import get_cursor
from ui.widgets import render_job_status

con = get_cursor()
if "job" not in st.session_state:
    st.session_state["job"] = job_db.insert_job(con, kind="text-stats", spec={})
    job_db.claim_next_job(con, job_db.insert_worker(con))  # running, on a live worker
job_id = st.session_state["job"]
real_get_job = job_db.get_job

def get_job_then_finish(cursor, wanted):
    job = real_get_job(cursor, wanted)
    job_db.get_job = real_get_job
    job_db.finish_job(cursor, wanted, status="succeeded", result={})
    return job

if st.session_state.pop("finish", False):
    job_db.get_job = get_job_then_finish
try:
    render_job_status(job_id, key="status")
finally:
    job_db.get_job = real_get_job
if st.button("Act", key="act"):
    st.session_state["acted"] = st.session_state.get("acted", 0) + 1
"""


def test_a_click_in_the_run_where_a_job_finishes_is_not_lost(app_catalog_con):
    at = AppTest.from_string(PAGE, default_timeout=60).run()
    assert not at.exception
    assert at.button(key="status-cancel-1") is not None  # running: the job can be cancelled
    at.session_state["finish"] = True
    at.button(key="act").click().run()
    assert not at.exception
    assert at.session_state["acted"] == 1
    assert "succeeded" in at.get("progress")[0].proto.text


MESSAGE_PAGE = """
import streamlit as st
from db import jobs as job_db
from ui.resources import get_cursor
from ui.widgets import render_job_status

con = get_cursor()
job_id = job_db.insert_job(con, kind="text-stats", spec={})
job_db.claim_next_job(con, job_db.insert_worker(con))
job_db.update_job_progress(
    con, job_id, 1.0, "read https://example.org/a.jsonl, mail ann@host.org :smile:"
)
job_db.finish_job(con, job_id, status="succeeded", result={})
render_job_status(job_id, key="status")
"""


def test_a_job_message_reads_as_typed_with_no_invisible_characters(app_catalog_con):
    at = AppTest.from_string(MESSAGE_PAGE, default_timeout=60).run()
    assert not at.exception
    message = "read https://example.org/a.jsonl, mail ann@host.org :smile:"
    assert [t.value for t in at.text] == [message]  # copy-paste gives back what was written
    shown = [at.get("progress")[0].proto.text, *(t.value for t in at.text)]
    assert not any("\u2060" in s for s in shown)


# A multiselect whose best defaults change between runs (as when embeddings arrive).
FOLLOW_PAGE = """
import streamlit as st
from ui.widgets import follow_defaults

defaults = st.session_state.get("best", ["a"])
follow_defaults("pick", defaults)
st.multiselect("Pick", ["a", "b", "c"], default=defaults, key="pick")
"""


def test_an_untouched_widget_follows_new_defaults():
    at = AppTest.from_string(FOLLOW_PAGE, default_timeout=30).run()
    assert at.multiselect(key="pick").value == ["a"]
    at.session_state["best"] = ["b", "c"]
    at.run()
    assert at.multiselect(key="pick").value == ["b", "c"]


def test_a_users_choice_outlives_new_defaults():
    at = AppTest.from_string(FOLLOW_PAGE, default_timeout=30).run()
    at.multiselect(key="pick").set_value(["c"]).run()
    at.session_state["best"] = ["b"]
    at.run()
    assert at.multiselect(key="pick").value == ["c"]


# The router with every page-run slot taken by other sessions.
def test_a_page_past_capacity_says_busy_instead_of_waiting_forever(app_catalog_con, monkeypatch):
    from tests.conftest import REPO_ROOT
    from ui import resources

    monkeypatch.setattr(resources, "BUSY_AFTER_S", 0.2)
    taken = 0
    while resources._PAGE_RUN_SLOTS.acquire(blocking=False):
        taken += 1
    try:
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60).run()
    finally:
        for _ in range(taken):
            resources._PAGE_RUN_SLOTS.release()
    assert not at.exception
    assert taken == resources.MAX_CONCURRENT_PAGE_RUNS
    assert "busy" in at.warning[0].value
    at.run()  # slots free again: the page itself
    assert not any("busy" in w.value for w in at.warning) and at.title[0].value


ETA_PAGE = """
import streamlit as st
from db import jobs as job_db
from ui.resources import get_cursor
from ui.widgets import render_job_status

con = get_cursor()
job_id = job_db.insert_job(con, kind="text-stats", spec={})
job_db.claim_next_job(con, job_db.insert_worker(con))
con.execute(
    "UPDATE jobs SET started_at = current_timestamp::TIMESTAMP - INTERVAL 60 SECOND "
    "WHERE job_id = ?", [job_id]
)
job_db.update_job_progress(con, job_id, 0.25, "encoding")
render_job_status(job_id, key="status")
"""


def test_a_running_job_says_how_long_it_has_left(app_catalog_con):
    at = AppTest.from_string(ETA_PAGE, default_timeout=60).run()
    assert not at.exception
    # 25 % done in 60 s: about 3 more minutes at the same pace.
    assert any(c.value.startswith("Running 1 min 0") for c in at.caption)
    assert any("about 3 min 0" in c.value for c in at.caption)
