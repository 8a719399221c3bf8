"""Two tiny fetch helpers.

DuckDB 2 keeps a result open after `fetchone()` and then refuses `register()` and some other
calls on that connection ("unfinished result"). These read the whole (one-row) result, so
the connection is always free afterwards. Use them instead of `fetchone()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb


def fetch_row(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> tuple | None:
    """The first row of a query (the rest are read and dropped), or None when it has none."""
    rows = con.execute(sql, list(params)).fetchall()
    return rows[0] if rows else None


def fetch_value(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first column of the first row, or None when the query returns no rows."""
    row = fetch_row(con, sql, params)
    return row[0] if row else None
