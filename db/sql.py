"""The helpers every db module shares: fetches, frames as views, and the one transaction helper.

DuckDB 2 keeps a result open after `fetchone()` and then refuses `register()` and some other
calls on that connection ("unfinished result"). The fetch helpers read the whole result, so
the connection is always free afterwards. Use them instead of `fetchone()`.

Transactions: `transaction(con, work)` runs `work(con)` between BEGIN and COMMIT and re-runs
it from the start when DuckDB reports a write-write conflict with a concurrent transaction
(optimistic concurrency: the loser gets a `TransactionException`). So `work` must read the
state it depends on itself, inside the transaction. A `transaction` called while the same
connection is already inside one joins it (the outer call commits, retries and rolls back),
so library functions can compose db writes that are each atomic on their own.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl

T = TypeVar("T")
# How the operating system says a write found no room (ENOSPC, EDQUOT), in DuckDB's messages.
_NO_SPACE = ("no space left on device", "disk quota exceeded")
MAX_WRITE_ATTEMPTS = 10
_in_transaction = threading.local()


def fetch_row(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> tuple | None:
    """The first row of a query (the rest are read and dropped), or None when it has none."""
    rows = con.execute(sql, list(params)).fetchall()
    return rows[0] if rows else None


def fetch_value(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first column of the first row, or None when the query returns no rows."""
    row = fetch_row(con, sql, params)
    return row[0] if row else None


def fetch_dicts(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """Every row of a query as a dict keyed by column name."""
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def fetch_dict(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
) -> dict[str, Any] | None:
    """The first row of a query as a dict, or None when it has none."""
    rows = fetch_dicts(con, sql, params)
    return rows[0] if rows else None


def fetch_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
) -> pl.DataFrame:
    """A query's rows as a polars frame (DuckDB 2 has `.pl()` on relations, not on cursors)."""
    return con.sql(sql, params=list(params)).pl()


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> Iterator[None]:
    """Make `frame` readable as view `name` for the block; unregistered even after an error.

    `name` is always a constant of the calling module, never user text.
    """
    con.register(name, frame.to_arrow() if isinstance(frame, pl.DataFrame) else frame)
    try:
        yield
    finally:
        with suppress(duckdb.Error):  # an aborted transaction refuses; the original error wins
            con.unregister(name)


def transaction(
    con: duckdb.DuckDBPyConnection,
    work: Callable[[duckdb.DuckDBPyConnection], T],
    *,
    attempts: int = MAX_WRITE_ATTEMPTS,
) -> T:
    """Run `work(con)` in one transaction, retrying it on write-write conflicts.

    Args:
        con: a connection or cursor (one per thread).
        work: does all reads and writes of one user action; may raise to abort.
        attempts: how many times to try before giving up on conflicts.

    Returns:
        What `work` returned, after a successful COMMIT (or, nested, what it returned).

    Raises:
        duckdb.TransactionException: still conflicting after `attempts` tries.
        DatabaseWriteError: the disk is full or the file cannot be written (rolled back).
        Exception: whatever `work` raised (the transaction is rolled back).
    """
    active = _active_connections()
    if id(con) in active:
        return work(con)
    for attempt in range(attempts):
        con.execute("BEGIN TRANSACTION")
        active.add(id(con))
        try:
            result = work(con)
            con.execute("COMMIT")
            return result
        except (duckdb.TransactionException, duckdb.ConstraintException) as exc:
            rollback_if_open(con)
            if (failure := compute_write_error(con, exc)) is not None:
                raise failure from exc
            if attempt == attempts - 1 or not _is_write_conflict(exc):
                raise
            # Exponential backoff with jitter, so two racing writers do not collide again.
            time.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
        except duckdb.IOException as exc:
            rollback_if_open(con)
            raise compute_write_error(con, exc) or exc from exc
        except BaseException:
            rollback_if_open(con)
            raise
        finally:
            active.discard(id(con))
    raise AssertionError("unreachable")


class DatabaseWriteError(RuntimeError):
    """The database file could not be written (disk full, or another I/O error); what the
    transaction wrote was rolled back, and what was stored before is unchanged."""


def compute_write_error(
    con: duckdb.DuckDBPyConnection, exc: duckdb.Error
) -> DatabaseWriteError | None:
    """The one-line `DatabaseWriteError` for DuckDB's failure to write the database file
    (`exc`: an IOException, or a failed COMMIT saying it could not write), else None."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = text.lower()
    no_space = any(marker in lowered for marker in _NO_SPACE)
    if not (no_space or isinstance(exc, duckdb.IOException) or "could not write" in lowered):
        return None
    where: object = "the database"
    with suppress(duckdb.Error):  # a connection DuckDB gave up on may refuse even this read
        where = get_database_path(con) or where
    if no_space:
        return DatabaseWriteError(f"disk full while writing {where}")
    reason = text.split("Error: ", 1)[-1]
    return DatabaseWriteError(f"could not write {where} ({reason})")


def _active_connections() -> set[int]:
    if not hasattr(_in_transaction, "ids"):
        _in_transaction.ids = set()
    return _in_transaction.ids


def _is_write_conflict(exc: duckdb.Error) -> bool:
    # "Conflict on update!" / "Conflict on tuple deletion!", or a duplicate key (at COMMIT, or
    # at an upsert whose snapshot predates it) because a concurrent transaction inserted the
    # same row first. Inserts of user data are upserts, so a duplicate key means a race.
    message = str(exc).lower()
    if isinstance(exc, duckdb.ConstraintException):
        return "duplicate key" in message
    return "conflict" in message or "constraint violation" in message


def rollback_if_open(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the connection's open transaction, if it has one (after a failed job)."""
    with suppress(duckdb.Error):  # no transaction was open, or DuckDB already aborted it
        con.execute("ROLLBACK")


def get_database_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file of the connection's current database, or None for ':memory:'."""
    path = fetch_value(
        con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    )
    return Path(path) if path else None
