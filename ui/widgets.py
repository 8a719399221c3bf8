"""Small Streamlit widgets shared by pages: the curator's name, and the status of a job.

Job lifecycle: `render_job_status` polls a job every second in a fragment while it is
active; the poll that sees it finish reruns the whole page once (`st.rerun(scope="app")`),
so results, tables and next steps appear by themselves. What a page waits for is found in
the database (`find_latest_job`), not in session state, so a reload or a second tab shows
the same job.

Identity: in local single-user mode the curator's name is typed once in the sidebar
(rendered by the router on every page; unauthenticated, and labelled so) and kept in the URL
(`?curator=`), so it survives a reload and travels with a shared link; it is never replaced
by the operating-system user or a placeholder. In team mode (`ui.auth`) there is no field:
the actor is the signed-in person's key (issuer#subject), and `?curator=` is ignored.
"""

from __future__ import annotations

import streamlit as st

from contract.progress import format_duration
from db import jobs as job_db
from ui import auth, plain
from ui.resources import cancel_job, get_cursor, get_job_watch

ACTOR_KEY = "curator"  # widget key and URL query parameter (`?curator=ana`)
POLL_EVERY_S = 1.0
BUSY_RETRY_S = 5.0


NAME_FIRST = "Enter your name in the sidebar first: every change records who made it."


def get_actor() -> str | None:
    """Who writes: the signed-in key in team mode, else the typed name (None: none yet)."""
    if auth.is_team_mode():
        return auth.get_signed_in_key()
    name = st.session_state.get(ACTOR_KEY) or st.query_params.get(ACTOR_KEY) or ""
    return str(name).strip()[:100] or None


def require_actor() -> str | None:
    """The curator's name, or None after saying on the page that one is needed."""
    actor = get_actor()
    if actor is None:
        st.warning(NAME_FIRST)
    return actor


def render_actor_input() -> None:
    """Local mode: the sidebar field for the curator's name, bound to `?curator=`, labelled
    as unverified. Team mode: nothing (`ui.auth.gate` shows who is signed in)."""
    if auth.is_team_mode():
        return
    st.sidebar.text_input(
        "Your name (recorded in history)",
        key=ACTOR_KEY,
        bind="query-params",
        persist_state="session",
        max_chars=100,
        placeholder="required for edits",
        help="Local single-user mode: this name is not verified (anyone can type any name). "
        "For a team, start with `workbench run --auth-config FILE` (sign-in, roles).",
    )
    st.sidebar.caption("Local mode: unauthenticated name")


def render_busy() -> None:
    """What a page shows when the server is past capacity: a plain message, and a new try
    every `BUSY_RETRY_S` seconds (or at the click of a button)."""
    st.warning(
        "The server is busy with other sessions right now. This page loads as soon as it "
        f"can: it tries again every {BUSY_RETRY_S:.0f} seconds."
    )

    ticks = {"from_timer": False}  # False while the page's own run draws the fragment

    @st.fragment(run_every=BUSY_RETRY_S)
    def _retry() -> None:
        if ticks["from_timer"]:
            st.rerun(scope="app")

    st.button("Try again now", key="busy-retry")
    _retry()
    ticks["from_timer"] = True


def find_latest_job(kind: str, *, spec_filter: dict | None = None) -> int | None:
    """The newest job of a kind (optionally whose spec has these values), or None."""
    jobs = job_db.list_jobs(get_cursor(), kind=kind, limit=50)
    for row in jobs.iter_rows(named=True):
        if not spec_filter:
            return int(row["job_id"])
        job = job_db.get_job(get_cursor(), int(row["job_id"]))
        if all(job["spec"].get(k) == v for k, v in spec_filter.items()):
            return int(row["job_id"])
    return None


def render_job_status(job_id: int, *, key: str) -> dict | None:
    """Progress bar, message, cancel button and errors of one job.

    While the job is queued or running, a fragment polls it every second (through the
    process's one job watch, so open pages share one read); when it finishes, the page
    reruns once, so what the job produced appears without a reload.

    Returns:
        The job as this script run saw it (None when it does not exist).
    """
    job = job_db.get_job(get_cursor(), job_id)
    if job is None:
        st.warning(f"Job {int(job_id)} does not exist.")
        return None
    active = job["status"] in job_db.ACTIVE_STATUSES
    polling = {"from_timer": False}  # False while the page's own run draws the fragment

    @st.fragment(run_every=POLL_EVERY_S if active else None)
    def _poll() -> None:
        # Timer ticks of every open page share the process's one read; the page's own run
        # reads the database itself.
        if polling["from_timer"]:
            current = get_job_watch().get_job(job_id)
        else:
            current = job_db.get_job(get_cursor(), job_id)
        finished = active and current["status"] not in job_db.ACTIVE_STATUSES
        if finished and polling["from_timer"]:
            st.rerun(scope="app")  # the job just finished: show its results everywhere
        # A job that finishes during the page's own run is left to the next tick: rerunning
        # here would drop the click that started this run (a button pressed elsewhere).
        _render_job_body(current, key=key)

    _poll()
    polling["from_timer"] = True
    return job


def describe_time_left(progress: float | None, running_s: float | None) -> str | None:
    """ "Running 3 min 10 s, about 9 min left" from the share done and the seconds since the
    start (a straight-line estimate); None before 2 % and 5 s, when it would be noise."""
    if not progress or running_s is None or progress < 0.02 or running_s < 5 or progress >= 1:
        return None
    left = running_s * (1.0 - progress) / progress
    return f"Running {format_duration(running_s)}, about {format_duration(left)} left."


def _render_job_body(job: dict, *, key: str) -> None:
    status = job["status"]
    # The message (which may quote paths, URLs, names) goes to st.text, which renders nothing:
    # in the progress label it would need invisible word joiners against autolinks, and those
    # travel with every copy-paste of the message.
    plain.progress(job["progress"], f"Job {job['job_id']} ({job['kind']}): {status}")
    if job["message"]:
        st.text(job["message"])
    if status == "running" and (eta := describe_time_left(job["progress"], job["running_s"])):
        st.caption(eta)
    if status in job_db.ACTIVE_STATUSES:
        if st.button("Cancel", key=f"{key}-cancel-{job['job_id']}"):
            try:
                cancel_job(job["job_id"])
            except PermissionError as exc:
                plain.error(exc)
    elif status in ("failed", "interrupted"):
        st.error("The job failed:" if status == "failed" else "The job was interrupted:")
        st.code(job["error"] or "(no message)", language=None, wrap_lines=True)
    elif status == "cancelled":
        st.warning(
            "Cancelled. What was finished before the cancel (whole cache shards of features "
            "or embeddings) was kept and is reused by the next run; only the step in "
            "progress was dropped."
        )


def follow_defaults(key: str, defaults: list) -> None:
    """Let the widget `key` (drawn next, with `default=defaults`) follow its defaults when
    they change, until the user picks a value of their own; their choice is kept.

    Call it just before drawing the widget. (Writing the value into session_state instead
    races with fast typing: a rerun that interrupts the drawing run brings back an empty
    widget.)
    """
    offered_key = f"{key}-defaults"
    offered = st.session_state.get(offered_key)
    if offered == defaults:
        return
    st.session_state[offered_key] = defaults
    if st.session_state.get(key) in (None, offered):  # untouched: take the new defaults
        st.session_state.pop(key, None)


# Past any page count or row id the workbench holds, and within DuckDB's BIGINT.
URL_INT_LIMIT = 10**12


def get_int_in_url(
    key: str,
    default: int,
    *,
    min_value: int = 0,
    max_value: int = URL_INT_LIMIT,
    choices: tuple[int, ...] | None = None,
) -> int:
    """The integer a widget `key` holds, else its URL parameter, else `default`.

    The one way a page reads a number from its URL. A URL value that is not a plain ASCII
    integer (`?cap-page=abc`, `1e999`, Arabic-Indic digits), lies outside
    [`min_value`, `max_value`] (`-5`, `99999999999999999999`) or is not one of `choices` is
    dropped from the URL, so no widget bound to it reads it either, and `default` is used.
    """
    held = st.session_state.get(key)
    if isinstance(held, int) and not isinstance(held, bool) and min_value <= held <= max_value:
        return held
    value = parse_int_in_bounds(
        st.query_params.get(key), min_value=min_value, max_value=max_value, choices=choices
    )
    if value is not None:
        return value
    if key in st.query_params:
        del st.query_params[key]
    return default


def set_int_in_url(key: str, value: int, *, default: int) -> None:
    """Keep `?<key>=<value>` in the URL (none when it is the default), for a reload or a link."""
    if value == default:
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != str(value):
        st.query_params[key] = str(value)


def parse_int_in_bounds(
    raw: object, *, min_value: int, max_value: int, choices: tuple[int, ...] | None = None
) -> int | None:
    """`raw` as an int when it is a plain ASCII integer within the bounds (and one of
    `choices`, when given), else None."""
    text = str(raw or "").strip()
    digits = text[1:] if text.startswith("-") else text
    if not (text.isascii() and digits.isdigit() and len(digits) <= 18):
        return None
    value = int(text)
    if not min_value <= value <= max_value or (choices is not None and value not in choices):
        return None
    return value


def select_in_url(label: str, options: list, *, key: str, format_func=str, default=None):
    """A selectbox whose value is kept in the URL as `?<key>=<option>` (the option itself,
    not its label, so `?wnid=n01440764` deep links work), restored on a reload.

    Args:
        options: str or int options. default: selected when the URL names none of them.

    Returns:
        The selected option, or None when there are no options.
    """
    if not options:
        return None
    names = [str(o) for o in options]
    wanted = st.query_params.get(key)
    current = st.session_state.get(key)
    if wanted in names and str(current) != wanted:
        st.session_state[key] = options[names.index(wanted)]  # a link, a reload, back
    elif current not in options:
        st.session_state[key] = default if default in options else options[0]

    def _store() -> None:
        st.query_params[key] = str(st.session_state[key])

    value = st.selectbox(label, options, key=key, format_func=format_func, on_change=_store)
    if st.query_params.get(key) != str(value):
        st.query_params[key] = str(value)
    return value
