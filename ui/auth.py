"""Sign-in for the app: local single-user mode or team mode (OpenID Connect via `st.login`).

Team mode is on when the secrets (`.streamlit/secrets.toml`, or the file of
`workbench run --auth-config FILE`) have an `[auth]` section; its `[workbench]` section
gives the first admins and "invite only" (`curation.auth_config`). Then `gate()` (called by
the router before every page) shows only a sign-in screen until the person signs in, records
the sign-in (`access.sign_in`), and puts who they are, their role and "Sign out" in the
sidebar. The actor of every write is their key (issuer#subject), never a typed name.

A provider that does not answer: the sign-in screen says so in one line, and nothing can be
written (no one is signed in). A person refused (invite only) sees why and can sign out.
"""

from __future__ import annotations

import time

import streamlit as st

from curation import access
from curation.auth_config import check_provider, policy_from_secrets
from ui import plain
from ui.resources import get_cursor

_PROBE_CACHE_S = 10.0


def is_team_mode() -> bool:
    """Whether the secrets configure an OpenID Connect provider (`[auth]`)."""
    return bool(_secrets().get("auth"))


def apply_policy() -> access.Policy:
    """Set this process's access policy from the secrets (every run: cheap, and AppTest
    runs of different modes share a process)."""
    policy = policy_from_secrets(_secrets()) if is_team_mode() else access.LOCAL
    if access.get_policy() != policy:
        access.configure_policy(policy)
    return policy


def gate() -> None:
    """In team mode: stop the page until the person is signed in and allowed; then show who
    they are in the sidebar. In local mode: nothing."""
    if not apply_policy().team:
        return
    if not _user().get("is_logged_in"):
        _render_sign_in()
        st.stop()
    try:
        user = _record_sign_in()
    except access.AccessDenied as exc:
        plain.error(exc)
        st.button("Sign out", on_click=st.logout, key="auth-refused-sign-out")
        st.stop()
    st.sidebar.text(f"Signed in as {_display(user)}\nRole: {user['role']}")
    st.sidebar.button("Sign out", on_click=st.logout, key="auth-sign-out")


def get_signed_in_key() -> str | None:
    """The signed-in person's key (issuer#subject) in team mode, else None."""
    if not is_team_mode():
        return None
    info = _user()
    if not info.get("is_logged_in") or not info.get("iss") or not info.get("sub"):
        return None
    return access.make_user_key(str(info["iss"]), str(info["sub"]))


def can(action: str) -> bool:
    """Whether the person at this page may do `action` (to show or hide a control; the
    library checks again)."""
    from ui.widgets import get_actor

    return access.can(get_cursor(), get_actor(), action)


def explain_refusal(action: str) -> None:
    """A one-line note where a control is hidden because of the role."""
    needed = access.ACTION_ROLES[action]
    st.info(
        f"Read only: {access.ACTION_LABELS.get(action, action)} needs the {needed} role. "
        "An admin can give it on the People page."
    )


def display_names() -> dict[str, str]:
    """user_key -> 'Name <e-mail>', for tables that show who did something."""
    return access.get_display_names(get_cursor())


def _record_sign_in() -> dict:
    info = _user()
    identity = access.Identity(
        issuer=str(info.get("iss") or ""),
        subject=str(info.get("sub") or ""),
        email=_text(info.get("email")),
        name=_text(info.get("name")),
        email_verified=info.get("email_verified"),
    )
    return access.sign_in(get_cursor(), identity)


def _render_sign_in() -> None:
    st.title("ImageNet curation workbench")
    problem = _provider_problem()
    if problem:
        plain.error(f"Sign-in is not possible now: {problem}. Nothing can be changed meanwhile.")
        st.button("Try again", key="auth-retry")
        return
    st.write("This workbench is shared by a team: sign in to see and change it.")
    st.button("Sign in", type="primary", on_click=st.login, key="auth-sign-in")


def _provider_problem() -> str | None:
    """Why the provider cannot be used now (it does not answer, or its metadata is not
    OpenID Connect), or None. Checked at most every few seconds per session."""
    now = time.monotonic()
    cached = st.session_state.get("auth-probe")
    if cached and now - cached[0] < _PROBE_CACHE_S:
        return cached[1]
    url = str(_secrets()["auth"].get("server_metadata_url", ""))
    problem = check_provider(url, timeout_s=3.0)
    st.session_state["auth-probe"] = (now, problem)
    return problem


def _display(user: dict) -> str:
    name, email = user.get("name"), user.get("email")
    if name and email and name != email:
        return f"{name} <{email}>"
    return name or email or user["user_key"]


def _text(value) -> str | None:
    return str(value).strip()[:320] or None if value else None


def _user():
    return st.user


def _secrets():
    try:
        return st.secrets if st.secrets.load_if_toml_exists() else {}
    except Exception:  # an unreadable secrets file: Streamlit reports it itself
        return {}
