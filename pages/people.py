"""People: who can do what (roles, invitations; admins change them) and what each person did.

Roles apply in team mode (`workbench run --auth-config FILE`); in local single-user mode the
page shows the activity by typed name and says that roles are off. Every change here goes
through `curation.access` (set_role, invite, remove_user), which checks the admin role and
refuses an unknown role and removing the last admin, whatever this page shows.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from curation import access
from ui import auth, plain
from ui.resources import get_cursor
from ui.widgets import get_actor

FLASH_KEY = "people-flash"


def render() -> None:
    st.title("People")
    kind, message = st.session_state.pop(FLASH_KEY, (None, None))
    if kind:
        getattr(plain, kind)(message)
    con = get_cursor()
    if auth.is_team_mode():
        _render_roles(con)
    else:
        st.info(
            "Local single-user mode: names are typed, not verified, and roles are off. "
            "Start with `workbench run --auth-config FILE` for sign-in and roles."
        )
    _render_activity(con)


def _render_roles(con) -> None:
    st.subheader("Roles")
    st.text(
        "viewer: reads everything, downloads exports · curator: edits descriptions, relevance "
        "decisions, thresholds, imports · admin: classes, model export, training, others' "
        "jobs, roles"
    )
    users = access.list_users(con)
    st.dataframe(
        users.select("email", "name", "role", "last_seen_at", "role_set_by", "user_key"),
        hide_index=True,
        key="people-table",
    )
    if not auth.can("manage_roles"):
        auth.explain_refusal("manage_roles")
        return
    keys = users["user_key"].to_list()
    labels = dict(zip(keys, (_label(r) for r in users.iter_rows(named=True)), strict=True))
    left, middle, right = st.columns([3, 2, 2])
    who = left.selectbox("Person", keys, format_func=labels.get, key="people-who")
    role = middle.selectbox("Role", access.ROLES, key="people-role")
    right.button("Set role", key="people-set-role", on_click=_do, args=(access.set_role, who, role))
    right.button("Remove", key="people-remove", on_click=_do, args=(access.remove_user, who))
    left, middle, right = st.columns([3, 2, 2])
    email = left.text_input("Invite (e-mail)", key="people-invite-email", max_chars=320)
    role = middle.selectbox("Their role", access.ROLES, key="people-invite-role")
    right.button("Invite", key="people-invite", on_click=_do, args=(access.invite, email, role))


def _do(change, *args) -> None:
    """Button callback: one `access` change, its outcome flashed on the next run."""
    try:
        result = change(get_cursor(), *args, actor=get_actor())
    except (ValueError, PermissionError) as exc:
        st.session_state[FLASH_KEY] = ("error", str(exc))
        return
    if isinstance(result, dict):  # a person's row: say who, and the role they have now
        shown = f"{result.get('email') or result['user_key']} is now {result['role']}"
    else:
        shown = result
    st.session_state[FLASH_KEY] = ("success", f"Done: {shown}.")


def _label(row: dict) -> str:
    return f"{row['email'] or row['name'] or row['user_key']} ({row['role']})"


def _render_activity(con) -> None:
    st.subheader("Activity")
    activity = access.list_activity(con, limit=1000)
    if activity.is_empty():
        st.text("Nothing recorded yet.")
        return
    people = sorted(set(activity["who"].to_list()))
    chosen = st.selectbox("Person", ["everyone", *people], key="people-activity-who")
    if chosen != "everyone":
        activity = activity.filter(pl.col("who") == chosen)
    st.text(f"{activity.height} recorded changes")
    st.dataframe(activity.drop("actor"), hide_index=True, key="people-activity")


render()
