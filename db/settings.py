"""SQL for the small key/value workbench settings (`settings`, e.g. the image root)."""

from __future__ import annotations

import duckdb

from db.sql import fetch_dict


def get_setting(con: duckdb.DuckDBPyConnection, key: str) -> dict | None:
    """One setting (value, updated_by, updated_at), or None when it was never set."""
    return fetch_dict(
        con, "SELECT value, updated_by, updated_at FROM settings WHERE key = ?", [key]
    )


def update_setting(
    con: duckdb.DuckDBPyConnection, key: str, value: str | None, *, actor: str
) -> None:
    """Set (None: remove) one setting."""
    if value is None:
        con.execute("DELETE FROM settings WHERE key = ?", [key])
        return
    con.execute(
        "INSERT INTO settings (key, value, updated_by, updated_at) VALUES (?, ?, ?, "
        "current_timestamp) ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
        "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        [key, value, actor],
    )
