"""Small fetch helpers shared by the db modules.

DuckDB 2 keeps a result open after `fetchone()` and then refuses `register()` and some other
calls on that connection ("unfinished result"). These read the whole (one-row) result, so
the connection is always free afterwards. Use them instead of `fetchone()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import polars as pl


def fetch_row(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> tuple | None:
    """The first row of a query (the rest are read and dropped), or None when it has none."""
    rows = con.execute(sql, list(params)).fetchall()
    return rows[0] if rows else None


def fetch_value(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first column of the first row, or None when the query returns no rows."""
    row = fetch_row(con, sql, params)
    return row[0] if row else None


def fetch_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
) -> pl.DataFrame:
    """A query's rows as a polars frame (DuckDB 2 has `.pl()` on relations, not on cursors)."""
    return con.sql(sql, params=list(params)).pl()


def rollback_if_open(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the connection's open transaction, if it has one (after a failed job)."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass  # no transaction was open
