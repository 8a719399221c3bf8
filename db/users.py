"""SQL for people and their roles (`users`) and the per-person activity view.

Writers are called inside `db.sql.transaction` by `curation.access`; the functions here are
single statements (or reads).
"""

from __future__ import annotations

import duckdb
import polars as pl

from db.sql import fetch_dict, fetch_frame, fetch_value

USER_COLUMNS = (
    "user_key",
    "issuer",
    "subject",
    "email",
    "name",
    "role",
    "created_at",
    "last_seen_at",
    "role_set_by",
    "role_set_at",
)
_SELECT = f"SELECT {', '.join(USER_COLUMNS)} FROM users"

# What each person did, newest first: one row per recorded write, from every history table
# that names its author. Columns: at_time, actor, what, subject (a class, a job, a key).
_ACTIVITY_SQL = """
SELECT at_time, actor, 'description ' || action AS what, wnid AS subject
  FROM description_events
UNION ALL
SELECT created_at, created_by, 'job ' || kind || ' (' || status || ')', CAST(job_id AS VARCHAR)
  FROM jobs WHERE created_by IS NOT NULL
UNION ALL
SELECT role_set_at, role_set_by, 'role of ' || coalesce(email, name, user_key) || ' -> ' || role,
       user_key
  FROM users WHERE role_set_by IS NOT NULL AND role_set_by <> 'config'
UNION ALL
SELECT updated_at, updated_by, 'setting ' || key, key FROM settings
UNION ALL
SELECT at_time, actor, 'relevance decision ' || action || ' ' || coalesce(decision_after, '-'),
       CAST(caption_id AS VARCHAR)
  FROM relevance_decision_events WHERE bulk_id IS NULL
UNION ALL
SELECT at_time, actor, 'relevance bulk ' || action || ' (' || n_captions || ' captions)',
       CAST(bulk_id AS VARCHAR)
  FROM relevance_bulk_events
UNION ALL
SELECT at_time, actor, 'threshold ' || coalesce(CAST(threshold_after AS VARCHAR), 'global'), wnid
  FROM relevance_threshold_events
UNION ALL
SELECT created_at, created_by, 'class ' || status, wnid FROM added_classes
"""


def get_user(con: duckdb.DuckDBPyConnection, user_key: str) -> dict | None:
    """One person as a dict (`USER_COLUMNS`), or None."""
    return fetch_dict(con, f"{_SELECT} WHERE user_key = ?", [user_key])


def list_users(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Everyone known (invitations included), admins first, then by e-mail."""
    return fetch_frame(
        con,
        f"{_SELECT} ORDER BY CASE role WHEN 'admin' THEN 0 WHEN 'curator' THEN 1 ELSE 2 END, "
        "coalesce(email, name, user_key)",
    )


def find_users(con: duckdb.DuckDBPyConnection, who: str) -> list[dict]:
    """People whose key, e-mail or name is exactly `who` (case-insensitive for e-mail)."""
    frame = fetch_frame(
        con,
        f"{_SELECT} WHERE user_key = ? OR lower(email) = lower(?) OR name = ? ORDER BY user_key",
        [who, who, who],
    )
    return frame.to_dicts()


def count_admins(con: duckdb.DuckDBPyConnection) -> int:
    """How many people (invitations included) hold the admin role."""
    return int(fetch_value(con, "SELECT count(*) FROM users WHERE role = 'admin'"))


def insert_user(
    con: duckdb.DuckDBPyConnection,
    *,
    user_key: str,
    role: str,
    role_set_by: str,
    issuer: str | None = None,
    subject: str | None = None,
    email: str | None = None,
    name: str | None = None,
) -> None:
    """Add one person (seen now when `issuer` is given: a sign-in, not an invitation)."""
    con.execute(
        "INSERT INTO users (user_key, issuer, subject, email, name, role, role_set_by, "
        "last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, CASE WHEN ? THEN current_timestamp END)",
        [user_key, issuer, subject, email, name, role, role_set_by, issuer is not None],
    )


def update_profile(
    con: duckdb.DuckDBPyConnection, user_key: str, *, email: str | None, name: str | None
) -> None:
    """Refresh what the provider says about a person at sign-in, and when they were seen."""
    con.execute(
        "UPDATE users SET email = ?, name = ?, last_seen_at = current_timestamp WHERE user_key = ?",
        [email, name, user_key],
    )


def update_role(con: duckdb.DuckDBPyConnection, user_key: str, *, role: str, by: str) -> None:
    """Give a person a role, recording who did it and when."""
    con.execute(
        "UPDATE users SET role = ?, role_set_by = ?, role_set_at = current_timestamp "
        "WHERE user_key = ?",
        [role, by, user_key],
    )


def delete_user(con: duckdb.DuckDBPyConnection, user_key: str) -> None:
    """Remove a person (or an invitation); their history rows keep their key."""
    con.execute("DELETE FROM users WHERE user_key = ?", [user_key])


def list_activity(
    con: duckdb.DuckDBPyConnection, *, actor: str | None = None, limit: int = 500
) -> pl.DataFrame:
    """Recorded writes, newest first (`at_time`, `actor`, `what`, `subject`); one person's
    when `actor` is given."""
    where = "WHERE actor = ?" if actor is not None else ""
    params = [actor] if actor is not None else []
    return fetch_frame(
        con,
        f"SELECT * FROM ({_ACTIVITY_SQL}) {where} ORDER BY at_time DESC NULLS LAST LIMIT ?",
        [*params, int(limit)],
    )


def list_display_names(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """user_key -> 'Name <e-mail>' (or what of it is known) for everyone with a profile."""
    rows = fetch_frame(con, "SELECT user_key, name, email FROM users").to_dicts()
    return {r["user_key"]: _display(r["name"], r["email"], r["user_key"]) for r in rows}


def _display(name: str | None, email: str | None, key: str) -> str:
    if name and email and name != email:
        return f"{name} <{email}>"
    return name or email or key
