"""SQL for human relevance decisions (keep/drop with a reason, and their history) and
per-class thresholds (and theirs). Both are independent of model versions, so no rescoring
can overwrite them. Single statements: `curation.relevance.decisions` validates and holds
the transaction of each change.
"""

from __future__ import annotations

import duckdb
import polars as pl

from db.sql import fetch_dict, fetch_frame, fetch_value


def get_decision(con: duckdb.DuckDBPyConnection, caption_id: int) -> dict | None:
    """The human decision on a caption (decision, reason, actor, at_time), or None."""
    return fetch_dict(
        con,
        "SELECT decision, reason, actor, at_time FROM relevance_decisions WHERE caption_id = ?",
        [caption_id],
    )


def has_caption(con: duckdb.DuckDBPyConnection, caption_id: int) -> bool:
    """True when the caption exists."""
    return bool(
        fetch_value(con, "SELECT count(*) FROM captions WHERE caption_id = ?", [caption_id])
    )


def update_decision_row(
    con: duckdb.DuckDBPyConnection, caption_id: int, *, decision: str | None, reason, actor
) -> None:
    """Replace (decision None: delete) the current decision row of a caption."""
    con.execute("DELETE FROM relevance_decisions WHERE caption_id = ?", [caption_id])
    if decision is not None:
        con.execute(
            "INSERT INTO relevance_decisions (caption_id, decision, reason, actor, at_time) "
            "VALUES (?, ?, ?, ?, current_timestamp)",
            [caption_id, decision, reason, actor],
        )


def insert_decision_event(con: duckdb.DuckDBPyConnection, **fields) -> int:
    """Append one history row. Keys: caption_id, actor, action, decision_before, reason_before,
    decision_after, reason_after, reverts_event_id. Returns the event id."""
    return int(
        fetch_value(
            con,
            "INSERT INTO relevance_decision_events (caption_id, actor, action, decision_before, "
            "reason_before, decision_after, reason_after, reverts_event_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING event_id",
            [
                fields["caption_id"],
                fields["actor"],
                fields["action"],
                fields.get("decision_before"),
                fields.get("reason_before"),
                fields.get("decision_after"),
                fields.get("reason_after"),
                fields.get("reverts_event_id"),
            ],
        )
    )


def get_decision_event(con: duckdb.DuckDBPyConnection, event_id: int) -> dict | None:
    """One history row, or None."""
    return fetch_dict(
        con,
        "SELECT event_id, caption_id, action, decision_before, reason_before, decision_after, "
        "reason_after FROM relevance_decision_events WHERE event_id = ?",
        [event_id],
    )


def get_latest_decision_event_id(con: duckdb.DuckDBPyConnection, caption_id: int) -> int | None:
    """The newest history event of a caption, or None."""
    return fetch_value(
        con,
        "SELECT max(event_id) FROM relevance_decision_events WHERE caption_id = ?",
        [caption_id],
    )


def list_decision_events(
    con: duckdb.DuckDBPyConnection, *, caption_id: int | None = None, limit: int = 100
) -> pl.DataFrame:
    """Decision history, newest first (optionally of one caption), with the caption's class."""
    where, params = ("WHERE e.caption_id = ?", [caption_id]) if caption_id is not None else ("", [])
    return fetch_frame(
        con,
        "SELECT e.event_id, e.caption_id, c.wnid, e.actor, e.at_time, e.action, "
        "e.decision_before, e.decision_after, e.reason_after, e.reason_before, "
        f"e.reverts_event_id FROM relevance_decision_events e LEFT JOIN captions c "
        f"USING (caption_id) {where} ORDER BY e.event_id DESC LIMIT ?",
        [*params, limit],
    )


def list_decisions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """All current human decisions: caption_id, decision, reason, actor, at_time."""
    return fetch_frame(
        con,
        "SELECT caption_id, decision, reason, actor, at_time FROM relevance_decisions "
        "ORDER BY caption_id",
    )


def has_class(con: duckdb.DuckDBPyConnection, wnid: str) -> bool:
    """True when the class is in the catalog."""
    return bool(fetch_value(con, "SELECT count(*) FROM classes WHERE wnid = ?", [wnid]))


def get_class_threshold(con: duckdb.DuckDBPyConnection, wnid: str) -> float | None:
    """A class's own threshold, or None when it uses the global one."""
    return fetch_value(
        con, "SELECT threshold FROM relevance_class_thresholds WHERE wnid = ?", [wnid]
    )


def update_class_threshold_row(
    con: duckdb.DuckDBPyConnection, wnid: str, *, threshold: float | None, reason: str, actor: str
) -> None:
    """Replace (None: delete) a class's threshold row."""
    con.execute("DELETE FROM relevance_class_thresholds WHERE wnid = ?", [wnid])
    if threshold is not None:
        con.execute(
            "INSERT INTO relevance_class_thresholds (wnid, threshold, reason, actor, at_time) "
            "VALUES (?, ?, ?, ?, current_timestamp)",
            [wnid, float(threshold), reason, actor],
        )


def insert_threshold_event(
    con: duckdb.DuckDBPyConnection, wnid: str, *, before, after, reason: str, actor: str
) -> None:
    """Append one threshold history row."""
    con.execute(
        "INSERT INTO relevance_threshold_events (wnid, actor, threshold_before, "
        "threshold_after, reason) VALUES (?, ?, ?, ?, ?)",
        [wnid, actor, before, after, reason],
    )


def list_class_thresholds(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per-class thresholds: wnid, threshold, reason, actor, at_time."""
    return fetch_frame(
        con,
        "SELECT wnid, threshold, reason, actor, at_time FROM relevance_class_thresholds "
        "ORDER BY wnid",
    )


def list_threshold_events(con: duckdb.DuckDBPyConnection, *, limit: int = 100) -> pl.DataFrame:
    """History of per-class threshold changes, newest first."""
    return fetch_frame(
        con,
        "SELECT event_id, wnid, actor, at_time, threshold_before, threshold_after, reason "
        "FROM relevance_threshold_events ORDER BY event_id DESC LIMIT ?",
        [limit],
    )
