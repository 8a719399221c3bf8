"""Jobs: every background job with its status, progress, log, and a cancel button."""

from __future__ import annotations

import streamlit as st

from db import jobs as job_db
from ui.resources import get_cursor, get_worker
from ui.widgets import render_job_status


def render() -> None:
    st.title("Background jobs")
    get_worker()
    con = get_cursor()
    jobs = job_db.list_jobs(con, limit=100)
    if jobs.is_empty():
        st.info("No jobs yet. Imports, training, scoring and synthesis run here in the background.")
        return
    st.dataframe(
        jobs.select("job_id", "kind", "status", "progress", "message", "created_at", "finished_at"),
        hide_index=True,
        column_config={"progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0)},
    )
    job_id = st.selectbox("Job", jobs["job_id"].to_list(), format_func=lambda j: f"job {j}")
    render_job_status(int(job_id), key="jobs-page")
    job = job_db.get_job(con, int(job_id))
    with st.expander("Spec and result"):
        st.json({"spec": job["spec"], "result": job["result"]})
    with st.expander("Log"):
        st.code("\n".join(job_db.list_job_logs(con, int(job_id))) or "(empty)", language=None)


render()
