"""SQL for class descriptions: candidate texts per source, the active description per class,
and the append-only `description_events` history.

Writers run inside `db.sql.transaction(con, work)` (called by `curation.descriptions`), which
retries `work` on write-write conflicts; the functions here are single statements.
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from db.captions import INGEST_RUN_COUNTS
from db.sql import fetch_dict, fetch_frame, fetch_row, fetch_value, registered

_ACTIVE_COLUMNS = ("wnid", "source", "text", "revision", "updated_by", "updated_at")
# The columns of an `ingest_runs` row a description file import writes (captions share the table).
_INGEST_COLUMNS = ("source", "path", "sha256", *INGEST_RUN_COUNTS, "report_json")
EVENT_COLUMNS = (
    "event_id",
    "wnid",
    "actor",
    "at_time",
    "action",
    "source_before",
    "text_before",
    "source_after",
    "text_after",
    "revision_after",
    "based_on_revision",
    "reverts_event_id",
)


def upsert_description_candidates(
    con: duckdb.DuckDBPyConnection, *, source: str, frame: pl.DataFrame
) -> dict[str, int]:
    """Store candidate texts of one source (columns `wnid`, `text`), replacing older ones.

    Returns:
        Counts `inserted`, `updated`, `unchanged`.
    """
    frame = frame.select(pl.col("wnid").cast(pl.Utf8), pl.col("text").cast(pl.Utf8))
    with registered(con, "_new_descriptions", frame):
        counts = fetch_row(
            con,
            "SELECT count(*) FILTER (WHERE d.wnid IS NULL), "
            "count(*) FILTER (WHERE d.wnid IS NOT NULL AND d.text <> n.text), "
            "count(*) FILTER (WHERE d.text = n.text) "
            "FROM _new_descriptions n LEFT JOIN descriptions d "
            "ON d.wnid = n.wnid AND d.source = ?",
            [source],
        )
        con.execute(
            "INSERT INTO descriptions (wnid, source, text) "
            "SELECT n.wnid, ?, n.text FROM _new_descriptions n "
            "ON CONFLICT (wnid, source) DO UPDATE SET text = excluded.text, "
            "imported_at = now() WHERE descriptions.text <> excluded.text",
            [source],
        )
    return dict(zip(("inserted", "updated", "unchanged"), map(int, counts), strict=True))


def count_description_candidates(con: duckdb.DuckDBPyConnection, *, source: str) -> int:
    """How many classes of the catalog have a candidate text from `source`."""
    return int(
        fetch_value(
            con,
            "SELECT count(*) FROM descriptions d JOIN classes c USING (wnid) WHERE d.source = ?",
            [source],
        )
    )


def list_description_candidates(con: duckdb.DuckDBPyConnection, wnid: str) -> pl.DataFrame:
    """Candidate texts of one class with their sources' titles and licenses."""
    return fetch_frame(
        con,
        "SELECT d.source, s.title, s.license, d.text, d.imported_at FROM descriptions d "
        "LEFT JOIN sources s ON s.source = d.source WHERE d.wnid = ? ORDER BY d.source",
        [wnid],
    )


def get_description_candidate(con: duckdb.DuckDBPyConnection, wnid: str, source: str) -> str | None:
    """The candidate text of `source` for a class, or None."""
    return fetch_value(
        con, "SELECT text FROM descriptions WHERE wnid = ? AND source = ?", [wnid, source]
    )


def list_candidate_sources(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row `(wnid, source)` per stored candidate text."""
    return fetch_frame(con, "SELECT wnid, source FROM descriptions ORDER BY wnid, source")


def get_active_description(con: duckdb.DuckDBPyConnection, wnid: str) -> dict | None:
    """The active description row of a class as a dict, or None when none is chosen."""
    return fetch_dict(
        con,
        f"SELECT {', '.join(_ACTIVE_COLUMNS)} FROM active_descriptions WHERE wnid = ?",
        [wnid],
    )


def list_active_descriptions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Active descriptions joined to the catalog, in class-index order."""
    return fetch_frame(
        con,
        "SELECT a.wnid, c.class_index, c.name, a.source, a.text, a.revision, a.updated_by, "
        "a.updated_at FROM active_descriptions a JOIN classes c USING (wnid) "
        "ORDER BY c.class_index NULLS LAST, a.wnid",
    )


def get_current_revision(con: duckdb.DuckDBPyConnection, wnid: str) -> int:
    """The newest revision of a class's description (0 before the first change).

    Read from the history, so a cleared description keeps counting up.
    """
    return int(
        fetch_value(
            con,
            "SELECT coalesce(max(revision_after), 0) FROM description_events WHERE wnid = ?",
            [wnid],
        )
    )


def insert_description_event(con: duckdb.DuckDBPyConnection, **fields: Any) -> int:
    """Append one history row (keys as in `EVENT_COLUMNS`, without `event_id`/`at_time`).

    Returns:
        The new event id.
    """
    names = [name for name in EVENT_COLUMNS if name in fields]
    unknown = set(fields) - set(names)
    if unknown or "event_id" in fields or "at_time" in fields:
        raise ValueError(f"unexpected event fields {sorted(unknown)}")
    placeholders = ", ".join("?" for _ in names)
    rows = con.execute(
        f"INSERT INTO description_events ({', '.join(names)}) VALUES ({placeholders}) "
        "RETURNING event_id",
        [fields[name] for name in names],
    ).fetchall()
    return int(rows[0][0])


def update_active_row(
    con: duckdb.DuckDBPyConnection, *, wnid: str, source: str, text: str, revision: int, actor: str
) -> None:
    """Set (insert or replace) the active description of a class."""
    con.execute(
        "INSERT INTO active_descriptions (wnid, source, text, revision, updated_by, updated_at) "
        "VALUES (?, ?, ?, ?, ?, current_timestamp) ON CONFLICT (wnid) DO UPDATE SET "
        "source = excluded.source, text = excluded.text, revision = excluded.revision, "
        "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        [wnid, source, text, revision, actor],
    )


def delete_active_row(con: duckdb.DuckDBPyConnection, wnid: str) -> None:
    """Remove the active description of a class (the history keeps it)."""
    con.execute("DELETE FROM active_descriptions WHERE wnid = ?", [wnid])


def get_description_event(con: duckdb.DuckDBPyConnection, event_id: int) -> dict | None:
    """One history row as a dict, or None."""
    return fetch_dict(
        con,
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM description_events WHERE event_id = ?",
        [event_id],
    )


def list_description_events(con: duckdb.DuckDBPyConnection, wnid: str) -> pl.DataFrame:
    """The history of one class, newest first."""
    return fetch_frame(
        con,
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM description_events WHERE wnid = ? "
        "ORDER BY event_id DESC",
        [wnid],
    )


def get_latest_event_id(con: duckdb.DuckDBPyConnection, wnid: str) -> int | None:
    """The id of a class's newest history row, or None."""
    return fetch_value(con, "SELECT max(event_id) FROM description_events WHERE wnid = ?", [wnid])


def list_unset_with_candidate(con: duckdb.DuckDBPyConnection, *, source: str) -> pl.DataFrame:
    """Catalog classes without an active description that have a `source` candidate.

    Returns:
        Columns `wnid`, `text`, `revision` (the revision the change will get).
    """
    return fetch_frame(
        con,
        "SELECT d.wnid, d.text, coalesce(e.revision, 0) + 1 AS revision "
        "FROM descriptions d JOIN classes c USING (wnid) "
        "LEFT JOIN (SELECT wnid, max(revision_after) AS revision FROM description_events "
        "GROUP BY wnid) e USING (wnid) "
        "WHERE d.source = ? AND d.wnid NOT IN (SELECT wnid FROM active_descriptions) "
        "ORDER BY c.class_index NULLS LAST, d.wnid",
        [source],
    )


def insert_bulk_changes(
    con: duckdb.DuckDBPyConnection, *, source: str, actor: str, frame: pl.DataFrame
) -> int:
    """Make `frame` (`wnid`, `text`, `revision`) the active descriptions, one 'bulk' event each.

    Returns:
        How many classes changed.
    """
    if frame.is_empty():
        return 0
    with registered(con, "_bulk_changes", frame):
        con.execute(
            "INSERT INTO description_events (wnid, actor, action, source_after, text_after, "
            "revision_after, based_on_revision) "
            "SELECT wnid, ?, 'bulk', ?, text, revision, revision - 1 FROM _bulk_changes "
            "ORDER BY wnid",
            [actor, source],
        )
        con.execute(
            "INSERT INTO active_descriptions "
            "(wnid, source, text, revision, updated_by, updated_at) "
            "SELECT wnid, ?, text, revision, ?, current_timestamp FROM _bulk_changes",
            [source, actor],
        )
    return frame.height


def insert_import_run(con: duckdb.DuckDBPyConnection, **fields: Any) -> int:
    """Record one file import in `ingest_runs` (keys: the table's columns). Returns its id."""
    names = list(fields)
    unknown = set(names) - set(_INGEST_COLUMNS)
    if unknown:
        raise ValueError(f"unexpected ingest_runs fields {sorted(unknown)}")
    rows = con.execute(
        f"INSERT INTO ingest_runs ({', '.join(names)}) VALUES "
        f"({', '.join('?' for _ in names)}) RETURNING ingest_id",
        [fields[name] for name in names],
    ).fetchall()
    return int(rows[0][0])
