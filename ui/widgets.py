"""Small Streamlit widgets shared by pages."""

from __future__ import annotations

import getpass

import streamlit as st

from db import jobs as job_db
from ui.resources import cancel_job, get_cursor

ACTOR_KEY = "actor_name"


def get_actor() -> str:
    """The curator's name, recorded in every history row (set in the sidebar)."""
    if ACTOR_KEY not in st.session_state:
        try:
            st.session_state[ACTOR_KEY] = getpass.getuser()
        except Exception:
            st.session_state[ACTOR_KEY] = "curator"
    return st.session_state[ACTOR_KEY] or "curator"


def render_actor_input() -> None:
    """Sidebar field for the curator's name."""
    get_actor()
    st.sidebar.text_input("Your name (recorded in history)", key=ACTOR_KEY)


def render_job_status(job_id: int, *, key: str) -> dict | None:
    """Progress bar, message, cancel button and errors of one job; polls every second
    while the job is active. Returns the job dict."""

    @st.fragment(run_every=1.0)
    def _poll() -> None:
        job = job_db.get_job(get_cursor(), job_id)
        if job is None:
            st.warning(f"Job {job_id} does not exist.")
            return
        _render_job_body(job, key=key)

    _poll()
    return job_db.get_job(get_cursor(), job_id)


def _render_job_body(job: dict, *, key: str) -> None:
    status = job["status"]
    label = f"Job {job['job_id']} ({job['kind']}): {status}"
    st.progress(float(job["progress"]), text=f"{label} — {job['message']}")
    if status in job_db.ACTIVE_STATUSES:
        if st.button("Cancel", key=f"{key}-cancel-{job['job_id']}"):
            cancel_job(job["job_id"])
    elif status == "failed":
        st.error("The job failed:")
        st.code(
            job["error"] or "(no message)", language=None
        )  # may quote paths or data: plain text
    elif status == "cancelled":
        st.warning("Cancelled. Nothing half-written was kept.")
