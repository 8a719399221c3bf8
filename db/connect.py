"""Open the workbench's DuckDB file and bring its schema up to date.

One process owns the file read-write (a DuckDB rule): the app keeps one connection in
`st.cache_resource`, and every thread takes its own `con.cursor()`. Every way opening can fail
is one exception with one line naming the file and what is wrong (`DATABASE_OPEN_ERRORS`):
the file is held by another process (which one, when DuckDB says: on Linux it gives the
PID), it is a folder, not a DuckDB file, truncated or corrupt, written by a newer workbench,
another application's DuckDB database (refused before anything is written to it), or a path
that does not exist when the caller did not ask to create one (the CLI's `--create`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from db.migrate import DatabaseTooNewError, apply_migrations

DB_ENV_VAR = "WORKBENCH_DB"
DEFAULT_DB_PATH = Path("data") / "workbench.duckdb"
# DuckDB's lock error on Linux: '... Conflicting lock is held in /usr/bin/python3 (PID 123) ...'
_LOCK_HOLDER = re.compile(r"held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
_MAX_COMMAND_CHARS = 120


class DatabaseLockedError(RuntimeError):
    """Another process holds the database file open for writing.

    Attributes:
        pid: the process that holds it, when DuckDB names it (else None).
    """

    def __init__(self, message: str, pid: int | None = None):
        super().__init__(message)
        self.pid = pid


class DatabaseFileError(RuntimeError):
    """The path is not a usable DuckDB database (a folder, another kind of file, truncated)."""


DATABASE_OPEN_ERRORS = (DatabaseLockedError, DatabaseFileError, DatabaseTooNewError)


def resolve_db_path(path: str | Path | None = None) -> Path:
    """The database path: the argument, else $WORKBENCH_DB, else data/workbench.duckdb."""
    if path is not None and str(path) != "":
        return Path(path)
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB_PATH)


def connect(path: str | Path | None = None, *, create: bool = True) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed and allowed) and migrate a workbench database.

    Args:
        path: a file path, ':memory:', or None for the default (see `resolve_db_path`).
        create: start a new database when the file does not exist (False: refuse; the CLI
            and the app pass False unless asked with `--create`, so a mistyped path never
            silently starts an empty database).

    Raises:
        DatabaseLockedError: another process has the file open (its PID in the message).
        DatabaseFileError: a folder, not a DuckDB database, truncated or corrupt, another
            application's DuckDB database (left untouched), or missing with `create=False`.
        db.migrate.DatabaseTooNewError: the file was written by a newer workbench.
    """
    target = str(path) if str(path) == ":memory:" else str(resolve_db_path(path))
    if target != ":memory:":
        if Path(target).is_dir():
            raise DatabaseFileError(
                f"The database path {target} is a folder; give a .duckdb file (--db FILE)."
            )
        if not create and not Path(target).exists():
            raise DatabaseFileError(
                f"The database {target} does not exist: check --db / ${DB_ENV_VAR}, or pass "
                "--create to start a new database there."
            )
        try:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseFileError(
                f"The database {target} cannot be created: {exc.strerror or exc}."
            ) from exc
    try:
        con = duckdb.connect(target)
    except duckdb.Error as exc:
        raise compute_open_error(target, exc) from exc
    try:
        con.execute("SET enable_progress_bar = false")  # it would interleave with the CLI's
        if target != ":memory:":
            check_workbench_database(con, target)
        apply_migrations(con)
    except duckdb.Error as exc:
        con.close()
        raise DatabaseFileError(
            f"The database {target} could not be read (corrupt: {_first_line(exc)}). Open "
            "another file with --db / $WORKBENCH_DB."
        ) from exc
    except Exception:
        con.close()
        raise
    return con


def check_workbench_database(con: duckdb.DuckDBPyConnection, target: str) -> None:
    """Refuse a DuckDB file of another application before anything is written to it.

    A workbench database has the `schema_version` table; a DuckDB file with no tables at
    all is an empty database and may become one. Only reads: the file is left as it was.

    Raises:
        DatabaseFileError: it holds tables but no `schema_version` (or cannot be read).
    """
    try:
        tables = {
            name
            for (name,) in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_catalog = current_database()"
            ).fetchall()
        }
    except duckdb.Error as exc:
        raise DatabaseFileError(
            f"The database {target} could not be read (corrupt: {_first_line(exc)})."
        ) from exc
    if tables and "schema_version" not in tables:
        raise DatabaseFileError(
            f"The database {target} is not a workbench database (a DuckDB file of another "
            f"application: {len(tables)} table(s), no workbench schema version); it was not "
            f"changed. Open a workbench database with --db / ${DB_ENV_VAR}."
        )


def compute_open_error(target: str, exc: duckdb.Error) -> RuntimeError:
    """The one-line error for DuckDB's refusal to open `target`."""
    text = _first_line(exc)
    if "lock" in text.lower():
        holder = _LOCK_HOLDER.search(text)
        pid = int(holder["pid"]) if holder else None
        return DatabaseLockedError(
            f"The database {target} is open in another process ({describe_process(pid)}): a "
            "running workbench or job. Stop it, or pass another file with --db / $WORKBENCH_DB.",
            pid=pid,
        )
    if "not a valid DuckDB database file" in text:
        reason = "it is not a DuckDB database file"
    elif "Could not read enough bytes" in text:
        reason = "it is truncated (shorter than its own header says)"
    else:
        reason = f"it is corrupt or unreadable ({text})"
    return DatabaseFileError(
        f"The database {target} cannot be opened: {reason}. Open another file with --db / "
        f"${DB_ENV_VAR}, or move this one away to start a new database."
    )


def describe_process(pid: int | None) -> str:
    """'PID 123: <its command line>' (Linux /proc), 'PID 123', or 'PID unknown'."""
    if pid is None:
        return "PID unknown"
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"PID {pid}"
    command = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    if len(command) > _MAX_COMMAND_CHARS:
        command = command[: _MAX_COMMAND_CHARS - 3] + "..."
    return f"PID {pid}: {command}" if command else f"PID {pid}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__
