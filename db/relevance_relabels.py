"""SQL for a curator's relabels: the curated class of a caption (its original label stays in
`captions.wnid`) and the history of relabels and their undos. `curation.relevance.relabels`
validates and holds the transaction of each change."""

from __future__ import annotations

import duckdb
import polars as pl

from db.sql import fetch_dict, fetch_frame, fetch_value, registered


def get_relabel(con: duckdb.DuckDBPyConnection, caption_id: int) -> str | None:
    """The curated wnid of a caption, or None when it keeps its original label."""
    return fetch_value(
        con, "SELECT wnid FROM relevance_relabels WHERE caption_id = ?", [caption_id]
    )


def list_relabels(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every current relabel: caption_id, original_wnid, curated_wnid, reason, actor, at_time."""
    return fetch_frame(
        con,
        "SELECT r.caption_id, c.wnid AS original_wnid, r.wnid AS curated_wnid, r.reason, "
        "r.actor, r.at_time FROM relevance_relabels r JOIN captions c USING (caption_id) "
        "ORDER BY r.caption_id",
    )


def next_batch_id(con: duckdb.DuckDBPyConnection) -> int:
    """A new batch id (for relabels applied together)."""
    return int(fetch_value(con, "SELECT nextval('relevance_relabel_batch_seq')"))


def update_relabels(
    con: duckdb.DuckDBPyConnection,
    changes: pl.DataFrame,
    *,
    action: str,
    reason: str,
    actor: str,
    batch_id: int | None,
) -> None:
    """Apply relabels set-wise and append one event per caption.

    Args:
        changes: caption_id, wnid_before (NULL = original), wnid_after (NULL = back to the
            original), reverts_event_id (NULL unless an undo).
    """
    with registered(con, "_relabels", changes):
        con.execute(
            "INSERT INTO relevance_relabel_events (caption_id, actor, action, wnid_before, "
            "wnid_after, reason, batch_id, reverts_event_id) SELECT caption_id, ?, ?, "
            "wnid_before, wnid_after, ?, ?, reverts_event_id FROM _relabels",
            [actor, action, reason, batch_id],
        )
        con.execute(
            "DELETE FROM relevance_relabels WHERE caption_id IN (SELECT caption_id FROM _relabels)"
        )
        con.execute(
            "INSERT INTO relevance_relabels SELECT caption_id, wnid_after, ?, ?, "
            "current_timestamp FROM _relabels WHERE wnid_after IS NOT NULL",
            [reason, actor],
        )


def get_relabel_event(con: duckdb.DuckDBPyConnection, event_id: int) -> dict | None:
    """One relabel event (every column), or None."""
    return fetch_dict(con, "SELECT * FROM relevance_relabel_events WHERE event_id = ?", [event_id])


def list_batch_events(con: duckdb.DuckDBPyConnection, batch_id: int) -> pl.DataFrame:
    """The events of one batch with whether each is still its caption's newest event."""
    return fetch_frame(
        con,
        "SELECT e.event_id, e.caption_id, e.wnid_before, e.wnid_after, e.action, "
        "e.event_id = (SELECT max(x.event_id) FROM relevance_relabel_events x "
        "WHERE x.caption_id = e.caption_id) AS is_latest FROM relevance_relabel_events e "
        "WHERE e.batch_id = ? ORDER BY e.event_id",
        [batch_id],
    )


def get_latest_relabel_event_id(con: duckdb.DuckDBPyConnection, caption_id: int) -> int | None:
    """The newest relabel event of a caption, or None."""
    return fetch_value(
        con,
        "SELECT max(event_id) FROM relevance_relabel_events WHERE caption_id = ?",
        [caption_id],
    )


def list_relabel_events(
    con: duckdb.DuckDBPyConnection, *, caption_id: int | None = None, limit: int = 100
) -> pl.DataFrame:
    """Relabel history, newest first (optionally of one caption), with the original label."""
    where, params = ("WHERE e.caption_id = ?", [caption_id]) if caption_id is not None else ("", [])
    return fetch_frame(
        con,
        "SELECT e.event_id, e.caption_id, c.wnid AS original_wnid, e.wnid_before, e.wnid_after, "
        "e.action, e.actor, e.at_time, e.reason, e.batch_id, e.reverts_event_id "
        f"FROM relevance_relabel_events e LEFT JOIN captions c USING (caption_id) {where} "
        "ORDER BY e.event_id DESC LIMIT ?",
        [*params, limit],
    )


def list_caption_wnids(con: duckdb.DuckDBPyConnection, caption_ids: list[int]) -> pl.DataFrame:
    """caption_id, original wnid and current curated wnid (NULL = none) of the given captions."""
    frame = pl.DataFrame({"caption_id": caption_ids}, schema={"caption_id": pl.Int64})
    with registered(con, "_ids", frame):
        return fetch_frame(
            con,
            "SELECT i.caption_id, c.wnid AS original_wnid, r.wnid AS curated_wnid FROM _ids i "
            "LEFT JOIN captions c USING (caption_id) LEFT JOIN relevance_relabels r "
            "USING (caption_id) ORDER BY i.caption_id",
        )


def list_suggested_wnids(
    con: duckdb.DuckDBPyConnection, model_version: int, caption_ids: list[int]
) -> pl.DataFrame:
    """caption_id, original_wnid, curated_wnid and the model version's suggested_wnid (NULL
    where the version did not score the caption) of the given captions."""
    frame = pl.DataFrame({"caption_id": caption_ids}, schema={"caption_id": pl.Int64})
    with registered(con, "_ids", frame):
        return fetch_frame(
            con,
            "SELECT i.caption_id, c.wnid AS original_wnid, r.wnid AS curated_wnid, "
            "s.suggested_wnid FROM _ids i LEFT JOIN captions c USING (caption_id) "
            "LEFT JOIN relevance_relabels r USING (caption_id) LEFT JOIN relevance_scores s "
            "ON s.caption_id = i.caption_id AND s.model_version = ? ORDER BY i.caption_id",
            [model_version],
        )


def list_caption_curation(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every caption a curator touched: caption_id, curated_wnid (NULL = not relabelled),
    decision ('keep' | 'drop' | NULL)."""
    return fetch_frame(
        con,
        "SELECT caption_id, r.wnid AS curated_wnid, d.decision FROM relevance_relabels r "
        "FULL OUTER JOIN relevance_decisions d USING (caption_id) ORDER BY caption_id",
    )
