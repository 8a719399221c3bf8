"""Jobs: every background job with its status, progress, log, and a cancel button.

The table refreshes every two seconds while any job is queued or running, and once more when
the last one ends; a job whose process died reads 'interrupted'. Click a row to open the job
(the chosen job is in the URL, `?job=`).
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from db import jobs as job_db
from ui.auth import display_names
from ui.resources import get_cursor, get_job_watch, get_worker
from ui.widgets import URL_INT_LIMIT, parse_int_in_bounds, render_job_status

REFRESH_EVERY_S = 2.0
COLUMNS = ("job_id", "kind", "status", "by", "progress", "message", "created_at", "finished_at")


def render() -> None:
    st.title("Background jobs")
    get_worker()
    con = get_cursor()
    if job_db.list_jobs(con, limit=1).is_empty():
        st.info("No jobs yet. Imports, training, scoring and synthesis run here in the background.")
        return
    _render_table(job_db.count_active_jobs(con) > 0)
    jobs = job_db.list_jobs(con, limit=100)["job_id"].to_list()
    wanted = _selected_job()
    st.session_state["jobs-select"] = wanted if wanted in jobs else jobs[0]
    job_id = st.selectbox(
        "Job",
        jobs,
        format_func=lambda j: f"job {j}",
        key="jobs-select",
        on_change=lambda: _choose(st.session_state["jobs-select"]),
    )
    job = render_job_status(int(job_id), key="jobs-page")
    if job is None:
        return
    if job["created_by"]:
        st.text(f"Started by {display_names().get(job['created_by'], job['created_by'])}")
    with st.expander("Spec and result"):
        st.json({"spec": job["spec"], "result": job["result"]})
    _render_log(int(job_id), job["status"] in job_db.ACTIVE_STATUSES)


def _render_table(active: bool) -> None:
    @st.fragment(run_every=REFRESH_EVERY_S if active else None)
    def _table() -> None:
        watch = get_job_watch()  # one read for every open page together
        if active and watch.read("count_active_jobs") == 0:
            st.rerun(scope="app")  # the last running job ended: refresh everything once
        jobs = watch.read("list_jobs", limit=100)
        names = display_names()
        jobs = jobs.with_columns(
            pl.col("created_by")
            .replace_strict(names, default=pl.col("created_by"), return_dtype=pl.Utf8)
            .alias("by")
        )
        event = st.dataframe(
            jobs.select(COLUMNS),
            hide_index=True,
            column_config={
                "progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0)
            },
            on_select="rerun",
            selection_mode="single-row",
            key="jobs-table",
        )
        rows = event.selection.rows if event else []
        if rows and int(jobs["job_id"][rows[0]]) != _selected_job():
            _choose(int(jobs["job_id"][rows[0]]))
            st.rerun(scope="app")

    _table()


def _selected_job() -> int | None:
    """The job chosen in this session, else the one in the URL."""
    chosen = st.session_state.get("job-selected")
    if chosen is not None:
        return int(chosen)
    return parse_int_in_bounds(st.query_params.get("job"), min_value=1, max_value=URL_INT_LIMIT)


def _choose(job_id: int) -> None:
    st.session_state["job-selected"] = int(job_id)
    st.query_params["job"] = str(int(job_id))


def _render_log(job_id: int, active: bool) -> None:
    @st.fragment(run_every=REFRESH_EVERY_S if active else None)
    def _log() -> None:
        lines = get_job_watch().read("list_job_logs", job_id)
        st.caption(f"Log ({len(lines)} lines)")
        st.code("\n".join(lines) or "(empty)", language=None, wrap_lines=True)

    _log()


render()
