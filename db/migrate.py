"""Ordered SQL migrations (`db/migrations/NNNN_name.sql`), each applied in one transaction.

The `schema_version` table records every applied migration. A database whose newest
version is above what this code knows is refused, so an old workbench never writes into a
schema it does not understand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import duckdb

from db.sql import transaction

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class DatabaseTooNewError(RuntimeError):
    """The database was written by a newer version of the workbench."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def list_migrations() -> list[Migration]:
    """All migrations shipped with the package, in version order."""
    found = []
    for entry in resources.files("db.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return check_migrations(sorted(found, key=lambda m: m.version))


def check_migrations(found: list[Migration]) -> list[Migration]:
    """The migrations when numbered 1..N without gaps, each with statements.

    Raises:
        RuntimeError: a gap, or a file of only comments.
    """
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"Migration versions must be 1..N without gaps, found {versions}")
    empty = [f"{m.version:04d}_{m.name}" for m in found if not _has_statements(m.sql)]
    if empty:
        # A database would record an empty file as applied and never run what is added to
        # it later: a number is taken by writing its statements, never reserved.
        raise RuntimeError(f"Migrations without statements: {empty}")
    return found


def get_schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The newest applied migration version, 0 for an empty database."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    rows = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()
    return int(rows[0][0])


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every migration newer than the database's version.

    Returns:
        The versions applied by this call (empty when already up to date).

    Raises:
        DatabaseTooNewError: the database has a version this code does not know.
    """
    migrations = list_migrations()
    current = get_schema_version(con)
    latest = migrations[-1].version if migrations else 0
    if current > latest:
        raise DatabaseTooNewError(
            f"This database has schema version {current}, but this workbench only knows up "
            f"to version {latest}: it was written by a newer workbench. Upgrade the workbench "
            "(git pull && make run), or open another file with --db."
        )
    applied = []
    for migration in migrations:
        if migration.version <= current:
            continue
        transaction(con, lambda tx, m=migration: _apply(tx, m), attempts=1)
        applied.append(migration.version)
    return applied


def _apply(con: duckdb.DuckDBPyConnection, migration: Migration) -> None:
    con.execute(migration.sql)
    con.execute(
        "INSERT INTO schema_version (version, name) VALUES (?, ?)",
        [migration.version, migration.name],
    )


def _has_statements(sql: str) -> bool:
    """False for a file of only comments and blank lines."""
    lines = (line.split("--", 1)[0].strip() for line in sql.splitlines())
    return any(lines)
