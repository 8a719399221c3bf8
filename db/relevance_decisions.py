"""SQL for human relevance decisions (keep/drop with a reason, history, undo) and per-class
thresholds. Both are independent of model versions, so no rescoring can overwrite them.
"""

from __future__ import annotations

import duckdb
import polars as pl

from db.sql import fetch_frame, fetch_row

DECISIONS = ("keep", "drop")


def get_decision(con: duckdb.DuckDBPyConnection, caption_id: int) -> dict | None:
    """The human decision on a caption, or None."""
    row = fetch_row(
        con,
        "SELECT decision, reason, actor, at_time FROM relevance_decisions WHERE caption_id = ?",
        [caption_id],
    )
    if row is None:
        return None
    return dict(zip(("decision", "reason", "actor", "at_time"), row, strict=True))


def update_decision(
    con: duckdb.DuckDBPyConnection,
    caption_id: int,
    *,
    decision: str | None,
    reason: str,
    actor: str,
) -> int:
    """Set (or, with decision=None, clear) a person's keep/drop on a caption.

    Args:
        decision: 'keep', 'drop', or None to go back to the model's decision.
        reason: why (required, shown in the history).

    Returns:
        The history event id.

    Raises:
        ValueError: unknown decision, empty reason, or unknown caption.
    """
    if decision is not None and decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS} or None, got {decision!r}")
    if not reason.strip():
        raise ValueError("a reason is required for a manual keep/drop")
    if fetch_row(con, "SELECT 1 FROM captions WHERE caption_id = ?", [caption_id]) is None:
        raise ValueError(f"caption {caption_id} does not exist")
    action = "set" if decision is not None else "clear"
    return _apply_decision(con, caption_id, decision, reason.strip(), actor, action, None)


def revert_decision_event(con: duckdb.DuckDBPyConnection, event_id: int, *, actor: str) -> int:
    """Undo one history event: restore the decision it replaced. Only the latest event of its
    caption can be undone (undo the later ones first).

    Returns:
        The id of the new 'undo' event.
    """
    row = fetch_row(
        con,
        "SELECT caption_id, decision_before, reason_before FROM relevance_decision_events "
        "WHERE event_id = ?",
        [event_id],
    )
    if row is None:
        raise ValueError(f"decision event {event_id} does not exist")
    caption_id, decision_before, reason_before = row
    latest = fetch_row(
        con,
        "SELECT max(event_id) FROM relevance_decision_events WHERE caption_id = ?",
        [caption_id],
    )[0]
    if latest != event_id:
        raise ValueError(
            f"event {event_id} is not the latest change of caption {caption_id} "
            f"(event {latest} is): undo that one first"
        )
    reason = reason_before or f"undo of event {event_id}"
    return _apply_decision(con, caption_id, decision_before, reason, actor, "undo", event_id)


def _apply_decision(con, caption_id, decision, reason, actor, action, reverts) -> int:
    con.execute("BEGIN TRANSACTION")
    try:
        before = get_decision(con, caption_id) or {}
        con.execute("DELETE FROM relevance_decisions WHERE caption_id = ?", [caption_id])
        if decision is not None:
            con.execute(
                "INSERT INTO relevance_decisions (caption_id, decision, reason, actor, at_time) "
                "VALUES (?, ?, ?, ?, current_timestamp)",
                [caption_id, decision, reason, actor],
            )
        row = fetch_row(
            con,
            "INSERT INTO relevance_decision_events (caption_id, actor, action, decision_before, "
            "reason_before, decision_after, reason_after, reverts_event_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING event_id",
            [
                caption_id,
                actor,
                action,
                before.get("decision"),
                before.get("reason"),
                decision,
                reason if decision is not None else None,
                reverts,
            ],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return int(row[0])


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


def update_class_threshold(
    con: duckdb.DuckDBPyConnection,
    wnid: str,
    *,
    threshold: float | None,
    reason: str,
    actor: str,
) -> None:
    """Give a class its own threshold on P(own class), or (None) return it to the global one.

    Raises:
        ValueError: threshold outside [0, 1], empty reason, or unknown class.
    """
    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    if not reason.strip():
        raise ValueError("a reason is required for a per-class threshold")
    if fetch_row(con, "SELECT 1 FROM classes WHERE wnid = ?", [wnid]) is None:
        raise ValueError(f"class {wnid!r} is not in the catalog")
    con.execute("BEGIN TRANSACTION")
    try:
        before = fetch_row(
            con, "SELECT threshold FROM relevance_class_thresholds WHERE wnid = ?", [wnid]
        )
        con.execute("DELETE FROM relevance_class_thresholds WHERE wnid = ?", [wnid])
        if threshold is not None:
            con.execute(
                "INSERT INTO relevance_class_thresholds (wnid, threshold, reason, actor, at_time) "
                "VALUES (?, ?, ?, ?, current_timestamp)",
                [wnid, float(threshold), reason.strip(), actor],
            )
        con.execute(
            "INSERT INTO relevance_threshold_events (wnid, actor, threshold_before, "
            "threshold_after, reason) VALUES (?, ?, ?, ?, ?)",
            [wnid, actor, before[0] if before else None, threshold, reason.strip()],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


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
