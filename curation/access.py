"""Who may do what: roles, the one check every write entry point makes, and sign-in.

Two policies, chosen per process by configuration (`configure_policy`):

- local (the default; the CLI, tests, `workbench run` without an auth config): one trusted
  person at this machine. Any non-empty name may write; it is recorded as typed, and nothing
  vouches for it (the page labels it "unauthenticated"). The CLI is this local admin.
- team (`workbench run --auth-config FILE`): the actor of every write is the signed-in
  person's key, `issuer#subject` (`make_user_key`), and their role in the `users` table
  decides. viewer < curator < admin; an unknown key may do nothing.

Every write entry point of the library calls `require(con, actor, ACTION)` once, first, so
the pages and the CLI obey the same rule whatever the page shows. Role changes are checked
like any other write, and refuse an unknown role and removing the last admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import duckdb
import polars as pl

from db import users as users_db
from db.sql import transaction

ROLES = ("viewer", "curator", "admin")

# Action -> the least role that may do it. One place to read (and change) the rules.
ACTION_ROLES = {
    "download_export": "viewer",
    "build_cache": "viewer",  # derived caches a page builds on its own (text statistics)
    "edit_descriptions": "curator",
    "decide_relevance": "curator",
    "set_threshold": "curator",
    "import": "curator",
    "run_analysis": "curator",  # evaluations, scoring, draft heads, photo checks
    "manage_classes": "admin",  # add (synthesize), keep, discard classes
    "export_model": "admin",
    "train": "admin",
    "cancel_others_jobs": "admin",
    "manage_roles": "admin",
    "change_settings": "admin",
}

# Job kind -> action; a kind not listed needs the admin role.
JOB_ACTIONS = {
    "noop": "build_cache",
    "text-stats": "build_cache",
    "text-embeddings": "build_cache",
    "ingest_captions": "import",
    "relevance-features": "train",
    "relevance-train": "train",
    "relevance-score": "run_analysis",
    "embed-image-set": "run_analysis",
    "evaluate": "run_analysis",
    "fewshot": "run_analysis",
    "leave-one-out": "run_analysis",
    "photo-check": "run_analysis",
    "synthesize-class": "manage_classes",
    "keep-class": "manage_classes",
    "export-model": "export_model",
}

ACTION_LABELS = {
    "edit_descriptions": "editing descriptions",
    "decide_relevance": "relevance decisions",
    "set_threshold": "changing thresholds",
    "import": "imports",
    "run_analysis": "running evaluations",
    "manage_classes": "adding, keeping or discarding classes",
    "export_model": "exporting the model",
    "train": "training",
    "cancel_others_jobs": "cancelling another person's job",
    "manage_roles": "managing roles",
    "change_settings": "changing settings",
}


class AccessDenied(PermissionError, ValueError):
    """The actor may not do this (the message says why and who can change it).

    Also a ValueError, so every page that already shows a refused input's message (they
    catch ValueError around library calls) shows this one too, instead of a generic error."""


@dataclass(frozen=True)
class Policy:
    """How this process decides who may write.

    Attributes:
        team: roles from the `users` table decide; False = local single-user mode.
        invite_only: a person signing in for the first time without an invitation is
            refused (instead of becoming a viewer).
        first_admins: e-mails or user keys that are admins whenever they sign in (the
            configuration's way in; an admin given by the config cannot be demoted by the
            database alone).
    """

    team: bool = False
    invite_only: bool = False
    first_admins: tuple[str, ...] = ()


LOCAL = Policy()
_policy = LOCAL
# A block's own policy (`using_policy`): this thread or task only, so a command the app runs
# for the command line (`cli.relay`) acts as the local admin without changing the app's.
_block_policy: ContextVar[Policy | None] = ContextVar("block_policy", default=None)


def configure_policy(policy: Policy) -> None:
    """Set this process's policy (the app does it once at start, in team mode)."""
    global _policy
    _policy = policy


def get_policy() -> Policy:
    """The policy of the running block (`using_policy`), else the process's."""
    return _block_policy.get() or _policy


@contextmanager
def using_policy(policy: Policy) -> Iterator[Policy]:
    """The policy for a block of this thread (a CLI command, a test), restored afterwards;
    other threads keep the process's policy."""
    token = _block_policy.set(policy)
    try:
        yield policy
    finally:
        _block_policy.reset(token)


def make_user_key(issuer: str, subject: str) -> str:
    """The stable key of a signed-in person: issuer + '#' + subject (an OIDC issuer URL has no
    fragment, so '#' cannot be part of it)."""
    if not issuer or not subject:
        raise ValueError("A signed-in identity needs both an issuer and a subject.")
    return f"{issuer.rstrip('/')}#{subject}"


def validate_role(role: object) -> str:
    """`role` if it is one of `ROLES`.

    Raises:
        ValueError: naming the valid roles.
    """
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; valid roles: {', '.join(ROLES)}.")
    return str(role)


def get_role(con: duckdb.DuckDBPyConnection, actor: str | None) -> str | None:
    """The actor's role under this process's policy (None: may do nothing)."""
    if not get_policy().team:
        return "admin" if actor is None or str(actor).strip() else None
    user = users_db.get_user(con, actor) if actor else None
    return user["role"] if user else None


def can(con: duckdb.DuckDBPyConnection, actor: str | None, action: str) -> bool:
    """Whether `require` would let the actor do `action` (pages use it to show controls)."""
    role = get_role(con, actor)
    return role is not None and ROLES.index(role) >= ROLES.index(_needed_role(action))


def require(con: duckdb.DuckDBPyConnection, actor: str | None, action: str) -> str | None:
    """The check at every write entry point: the actor (stripped) when they may do `action`.

    In local mode the actor may be None only for work no person asked for (a cache build,
    a test); a write recorded in history is refused without a name by its own function.

    Raises:
        AccessDenied: not signed in, unknown, or a role below what `action` needs.
        ValueError: an unknown action (a programming error).
    """
    needed = _needed_role(action)
    actor = actor.strip() if isinstance(actor, str) else None
    if not get_policy().team:
        return actor or None
    if not actor:
        raise AccessDenied("Sign in first: every change in team mode records who made it.")
    role = get_role(con, actor)
    if role is None:
        raise AccessDenied(f"{actor} is not a known user here; sign in again or ask an admin.")
    if ROLES.index(role) < ROLES.index(needed):
        raise AccessDenied(
            f"You are a {role}: {ACTION_LABELS.get(action, action)} needs the {needed} role. "
            "An admin can change roles on the People page or with `workbench users set-role`."
        )
    return actor


def require_job(con: duckdb.DuckDBPyConnection, actor: str | None, kind: str) -> str | None:
    """`require` for queuing a job of `kind` (`JOB_ACTIONS`; unlisted kinds need admin)."""
    return require(con, actor, JOB_ACTIONS.get(kind, "manage_roles"))


def require_cancel(
    con: duckdb.DuckDBPyConnection, actor: str | None, created_by: str | None
) -> str | None:
    """`require` for cancelling a job: your own with any role, another person's as admin."""
    if get_policy().team and actor and created_by == actor.strip():
        return require(con, actor, "build_cache")
    return require(con, actor, "cancel_others_jobs")


def _needed_role(action: str) -> str:
    if action not in ACTION_ROLES:
        raise ValueError(f"Unknown action {action!r}; known: {', '.join(ACTION_ROLES)}.")
    return ACTION_ROLES[action]


@dataclass(frozen=True)
class Identity:
    """What the provider says about a signed-in person (the claims of their ID token)."""

    issuer: str
    subject: str
    email: str | None = None
    name: str | None = None
    email_verified: bool | None = None

    @property
    def key(self) -> str:
        return make_user_key(self.issuer, self.subject)


def sign_in(con: duckdb.DuckDBPyConnection, identity: Identity) -> dict:
    """Record a sign-in and return the person's row (`db.users.USER_COLUMNS`).

    A first sign-in takes an invitation made for the e-mail, else becomes admin when the
    policy's `first_admins` name them, else viewer, or is refused when invite-only.

    Raises:
        AccessDenied: invite-only and not invited.
    """
    key = identity.key
    email = identity.email if identity.email_verified is not False else None

    def work(tx: duckdb.DuckDBPyConnection) -> dict:
        configured = bool({key, (email or "").lower()} & _first_admins())
        user = users_db.get_user(tx, key)
        if user is None:
            role, by = _first_role(tx, email, configured)
            users_db.insert_user(
                tx,
                user_key=key,
                role=role,
                role_set_by=by,
                issuer=identity.issuer,
                subject=identity.subject,
                email=identity.email,
                name=identity.name,
            )
        else:
            users_db.update_profile(tx, key, email=identity.email, name=identity.name)
            if configured and user["role"] != "admin":
                users_db.update_role(tx, key, role="admin", by="config")
        return users_db.get_user(tx, key)

    return transaction(con, work)


def _first_admins() -> set[str]:
    return {str(a).strip().lower() if "@" in str(a) else str(a) for a in get_policy().first_admins}


def _first_role(tx: duckdb.DuckDBPyConnection, email: str | None, configured: bool):
    """(role, set_by) for a first sign-in; an invitation is used up."""
    invite = users_db.get_user(tx, f"invite:{email.lower()}") if email else None
    if invite is not None:
        users_db.delete_user(tx, invite["user_key"])
    if configured:
        return "admin", "config"
    if invite is not None:
        return invite["role"], invite["role_set_by"]
    if get_policy().invite_only:
        raise AccessDenied(
            "This workbench is invite only, and you have no invitation yet: ask an admin to "
            "invite your e-mail (People page, or `workbench users invite EMAIL`)."
        )
    return "viewer", "default"


def invite(con: duckdb.DuckDBPyConnection, email: str, role: str, *, actor: str | None) -> str:
    """Give a role to an e-mail before its first sign-in. Returns the invitation's key.

    Raises:
        ValueError: not an e-mail, an unknown role, or already invited.
    """
    actor = require(con, actor, "manage_roles")
    role = validate_role(role)
    email = str(email).strip().lower()
    if "@" not in email or len(email) > 320:
        raise ValueError(f"{email!r} is not an e-mail address.")
    key = f"invite:{email}"

    def work(tx: duckdb.DuckDBPyConnection) -> str:
        if users_db.get_user(tx, key) is not None:
            raise ValueError(f"{email} is already invited; use set-role to change the role.")
        users_db.insert_user(tx, user_key=key, role=role, role_set_by=actor or "local", email=email)
        return key

    return transaction(con, work)


def set_role(con: duckdb.DuckDBPyConnection, who: str, role: str, *, actor: str | None) -> dict:
    """Give the person `who` (a key, an e-mail or a name; one match) a role.

    Raises:
        ValueError: unknown role, no or several matching people, or the change would leave
            no admin.
    """
    actor = require(con, actor, "manage_roles")
    role = validate_role(role)

    def work(tx: duckdb.DuckDBPyConnection) -> dict:
        user = _find_one(tx, who)
        if user["role"] == "admin" and role != "admin":
            _refuse_last_admin(tx)
        users_db.update_role(tx, user["user_key"], role=role, by=actor or "local")
        return users_db.get_user(tx, user["user_key"])

    return transaction(con, work)


def remove_user(con: duckdb.DuckDBPyConnection, who: str, *, actor: str | None) -> str:
    """Forget a person or an invitation (their history keeps their key). Returns the key.

    Raises:
        ValueError: no or several matches, or they are the last admin.
    """
    actor = require(con, actor, "manage_roles")

    def work(tx: duckdb.DuckDBPyConnection) -> str:
        user = _find_one(tx, who)
        if user["role"] == "admin":
            _refuse_last_admin(tx)
        users_db.delete_user(tx, user["user_key"])
        return user["user_key"]

    return transaction(con, work)


def _find_one(con: duckdb.DuckDBPyConnection, who: str) -> dict:
    matches = users_db.find_users(con, str(who).strip())
    if not matches:
        raise ValueError(f"No user {who!r}; see `workbench users list` for keys and e-mails.")
    if len(matches) > 1:
        keys = ", ".join(m["user_key"] for m in matches)
        raise ValueError(f"{who!r} matches several users ({keys}); give the key.")
    return matches[0]


def _refuse_last_admin(con: duckdb.DuckDBPyConnection) -> None:
    if users_db.count_admins(con) <= 1:
        raise ValueError(
            "Refused: this is the last admin. Make someone else admin first, so the "
            "workbench keeps one person who can manage roles."
        )


def list_users(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Everyone known and invited, with role and when they were last seen."""
    return users_db.list_users(con)


def list_activity(
    con: duckdb.DuckDBPyConnection, *, actor: str | None = None, limit: int = 500
) -> pl.DataFrame:
    """What each person did (every history table that records an author), newest first:
    `at_time`, `actor`, `who` (display name), `what`, `subject`."""
    frame = users_db.list_activity(con, actor=actor, limit=limit)
    names = users_db.list_display_names(con)
    who = [names.get(a, a) for a in frame["actor"].to_list()]
    return frame.with_columns(pl.Series("who", who, dtype=pl.Utf8)).select(
        "at_time", "who", "what", "subject", "actor"
    )


def get_display_names(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """user_key -> 'Name <e-mail>': what history tables show instead of a key."""
    return users_db.list_display_names(con)
