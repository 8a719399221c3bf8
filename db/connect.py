"""Open the workbench's DuckDB file and bring its schema up to date.

One process owns the file read-write (a DuckDB rule): the app keeps one connection in
`st.cache_resource`, and every thread takes its own `con.cursor()`.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from db.migrate import apply_migrations

DB_ENV_VAR = "WORKBENCH_DB"
DEFAULT_DB_PATH = Path("data") / "workbench.duckdb"


class DatabaseLockedError(RuntimeError):
    """Another process holds the database file open for writing."""


def resolve_db_path(path: str | Path | None = None) -> Path:
    """The database path: the argument, else $WORKBENCH_DB, else data/workbench.duckdb."""
    if path is not None and str(path) != "":
        return Path(path)
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB_PATH)


def connect(path: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) and migrate a workbench database.

    Args:
        path: a file path, ':memory:', or None for the default (see `resolve_db_path`).

    Raises:
        DatabaseLockedError: another process has the file open.
        db.migrate.DatabaseTooNewError: the file was written by a newer workbench.
    """
    target = str(path) if str(path) == ":memory:" else str(resolve_db_path(path))
    if target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(target)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise DatabaseLockedError(
                f"The database {target} is open in another process (a running workbench or "
                "job). Close it, or pass another file with --db / $WORKBENCH_DB."
            ) from exc
        raise
    try:
        apply_migrations(con)
    except Exception:
        con.close()
        raise
    return con
