"""SQL for human relevance decisions (keep/drop with a reason, their history, bulk events)
and the thresholds of each model version (and their history).

Decisions are independent of model versions, so no rescoring can overwrite them; thresholds
belong to one model version (wnid '' is its global threshold). Single statements or
set-based statements over a registered frame: `curation.relevance.decisions` validates and
holds the transaction of each change.
"""

from __future__ import annotations

import duckdb
import polars as pl

from db.captions import SEARCH_TEXT_SQL
from db.sql import fetch_dict, fetch_frame, fetch_value, registered

GLOBAL_WNID = ""  # the wnid of a model version's global threshold row


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
            "reason_before, decision_after, reason_after, reverts_event_id, bulk_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING event_id",
            [
                fields["caption_id"],
                fields["actor"],
                fields["action"],
                fields.get("decision_before"),
                fields.get("reason_before"),
                fields.get("decision_after"),
                fields.get("reason_after"),
                fields.get("reverts_event_id"),
                fields.get("bulk_id"),
            ],
        )
    )


def get_decision_event(con: duckdb.DuckDBPyConnection, event_id: int) -> dict | None:
    """One history row, or None."""
    return fetch_dict(
        con,
        "SELECT event_id, caption_id, action, decision_before, reason_before, decision_after, "
        "reason_after, bulk_id FROM relevance_decision_events WHERE event_id = ?",
        [event_id],
    )


def get_latest_decision_event(con: duckdb.DuckDBPyConnection, caption_id: int) -> dict | None:
    """The newest history event of a caption (event_id, actor, decision_after, reason_after),
    or None."""
    return fetch_dict(
        con,
        "SELECT event_id, actor, decision_after, reason_after FROM relevance_decision_events "
        "WHERE caption_id = ? ORDER BY event_id DESC LIMIT 1",
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
        f"e.reverts_event_id, e.bulk_id FROM relevance_decision_events e LEFT JOIN captions c "
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


# Each drop rule keeps its own thresholds (`rules.DROP_RULES`): a fixed table per rule, never a
# name from input.
THRESHOLD_TABLES = {
    "paper": "relevance_version_thresholds",
    "suspect": "relevance_suspect_thresholds",
}


def _threshold_table(rule: str) -> str:
    if rule not in THRESHOLD_TABLES:
        raise ValueError(f"Unknown drop rule {rule!r}; known: {sorted(THRESHOLD_TABLES)}")
    return THRESHOLD_TABLES[rule]


def list_version_thresholds(
    con: duckdb.DuckDBPyConnection, model_version: int, *, rule: str = "paper"
) -> pl.DataFrame:
    """Thresholds of one model version under a drop rule: wnid ('' = global), threshold,
    reason, actor, at_time."""
    return fetch_frame(
        con,
        f"SELECT wnid, threshold, reason, actor, at_time FROM {_threshold_table(rule)} "
        "WHERE model_version = ? ORDER BY wnid",
        [model_version],
    )


def get_version_threshold(
    con: duckdb.DuckDBPyConnection, model_version: int, wnid: str, *, rule: str = "paper"
) -> float | None:
    """One threshold of a model version ('' = its global one), or None when unset."""
    return fetch_value(
        con,
        f"SELECT threshold FROM {_threshold_table(rule)} WHERE model_version = ? AND wnid = ?",
        [model_version, wnid],
    )


def update_version_threshold_row(
    con: duckdb.DuckDBPyConnection,
    model_version: int,
    wnid: str,
    *,
    threshold: float | None,
    reason: str,
    actor: str,
    rule: str = "paper",
) -> None:
    """Replace (None: delete) one threshold row of a model version under a drop rule."""
    table = _threshold_table(rule)
    con.execute(f"DELETE FROM {table} WHERE model_version = ? AND wnid = ?", [model_version, wnid])
    if threshold is not None:
        con.execute(
            f"INSERT INTO {table} (model_version, wnid, threshold, reason, actor, at_time) "
            "VALUES (?, ?, ?, ?, ?, current_timestamp)",
            [model_version, wnid, float(threshold), reason, actor],
        )


def insert_threshold_event(
    con: duckdb.DuckDBPyConnection,
    model_version: int,
    wnid: str,
    *,
    before,
    after,
    reason: str,
    actor: str,
    rule: str = "paper",
) -> None:
    """Append one threshold history row (wnid '' = the global threshold)."""
    con.execute(
        "INSERT INTO relevance_threshold_events (wnid, actor, threshold_before, "
        "threshold_after, reason, model_version, rule) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [wnid, actor, before, after, reason, model_version, _checked_rule(rule)],
    )


def _checked_rule(rule: str) -> str:
    _threshold_table(rule)
    return rule


def get_latest_threshold_event(
    con: duckdb.DuckDBPyConnection, model_version: int, wnid: str, *, rule: str = "paper"
) -> dict | None:
    """The newest change of one threshold of a model version ('' = global) under a drop rule:
    event_id, actor, threshold_after, reason; None when it was never changed."""
    return fetch_dict(
        con,
        "SELECT event_id, actor, threshold_after, reason FROM relevance_threshold_events "
        "WHERE model_version = ? AND wnid = ? AND coalesce(rule, 'paper') = ? "
        "ORDER BY event_id DESC LIMIT 1",
        [model_version, wnid, _checked_rule(rule)],
    )


def list_threshold_events(
    con: duckdb.DuckDBPyConnection, *, model_version: int | None = None, limit: int = 100
) -> pl.DataFrame:
    """History of threshold changes (of one model version), newest first; wnid '' = global."""
    where, params = ("WHERE model_version = ?", [model_version]) if model_version else ("", [])
    return fetch_frame(
        con,
        "SELECT event_id, model_version, coalesce(rule, 'paper') AS rule, wnid, actor, at_time, "
        f"threshold_before, threshold_after, reason FROM relevance_threshold_events {where} "
        "ORDER BY event_id DESC LIMIT ?",
        [*params, limit],
    )


def get_drop_rule(con: duckdb.DuckDBPyConnection, model_version: int) -> str | None:
    """A model version's drop rule (its newest rule event), or None when never chosen."""
    return fetch_value(
        con,
        "SELECT rule FROM relevance_rule_events WHERE model_version = ? "
        "ORDER BY event_id DESC LIMIT 1",
        [model_version],
    )


def insert_rule_event(
    con: duckdb.DuckDBPyConnection, model_version: int, rule: str, *, reason: str, actor: str
) -> int:
    """Record a model version's new drop rule. Returns the event id."""
    return fetch_value(
        con,
        "INSERT INTO relevance_rule_events (model_version, rule, reason, actor) "
        "VALUES (?, ?, ?, ?) RETURNING event_id",
        [model_version, _checked_rule(rule), reason, actor],
    )


def list_rule_events(con: duckdb.DuckDBPyConnection, model_version: int) -> pl.DataFrame:
    """A model version's drop-rule changes, newest first."""
    return fetch_frame(
        con,
        "SELECT event_id, rule, reason, actor, at_time FROM relevance_rule_events "
        "WHERE model_version = ? ORDER BY event_id DESC",
        [model_version],
    )


def list_filtered_caption_ids(
    con: duckdb.DuckDBPyConnection,
    *,
    model_version: int | None = None,
    wnid: str | None = None,
    source: str | None = None,
    search: str = "",
    p_min: float | None = None,
    p_max: float | None = None,
    suggested_other: bool = False,
    decision: str | None = None,
    caption_ids: tuple[int, ...] = (),
) -> list[int]:
    """Caption ids matching a filter (the Captions page's substring semantics: literal,
    case-insensitive, over title, description and tags). With a model version, only the
    captions it scored; p_min/p_max bound P(own class); suggested_other keeps captions whose
    suggested class is another one; decision: a person's 'keep' / 'drop' / 'none' (no
    person's decision); caption_ids: only these (empty = any)."""
    clauses, params = [], []
    if caption_ids:
        clauses.append("c.caption_id IN (SELECT unnest(?::BIGINT[]))")
        params.append([int(i) for i in caption_ids])
    if decision == "none":
        clauses.append("c.caption_id NOT IN (SELECT caption_id FROM relevance_decisions)")
    elif decision is not None:
        clauses.append(
            "c.caption_id IN (SELECT caption_id FROM relevance_decisions WHERE decision = ?)"
        )
        params.append(decision)
    if model_version is not None:
        clauses.append("s.model_version = ?")
        params.append(model_version)
    for sql, value in (("c.wnid = ?", wnid), ("c.source = ?", source)):
        if value is not None:
            clauses.append(sql)
            params.append(value)
    if search:
        clauses.append(
            f"contains(coalesce(c.search_text, {SEARCH_TEXT_SQL.format(p='c.')}), lower(?))"
        )
        params.append(search)
    for sql, value in (("s.p_own >= ?", p_min), ("s.p_own <= ?", p_max)):
        if value is not None:
            clauses.append(sql)
            params.append(float(value))
    if suggested_other:
        clauses.append("s.suggested_wnid IS NOT NULL AND s.suggested_wnid <> c.wnid")
    scores = "JOIN relevance_scores s USING (caption_id)" if model_version is not None else ""
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = con.execute(
        f"SELECT c.caption_id FROM captions c {scores} {where} ORDER BY c.caption_id", params
    ).fetchall()
    return [int(r[0]) for r in rows]


def insert_bulk_event(con: duckdb.DuckDBPyConnection, **fields) -> int:
    """Append one bulk event. Keys: actor, action, decision, reason, filter_json, n_captions,
    reverts_bulk_id. Returns its id."""
    return int(
        fetch_value(
            con,
            "INSERT INTO relevance_bulk_events (actor, action, decision, reason, filter_json, "
            "n_captions, reverts_bulk_id) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING bulk_id",
            [
                fields["actor"],
                fields["action"],
                fields.get("decision"),
                fields["reason"],
                fields["filter_json"],
                fields["n_captions"],
                fields.get("reverts_bulk_id"),
            ],
        )
    )


def update_decisions_bulk(
    con: duckdb.DuckDBPyConnection,
    caption_ids: list[int],
    *,
    decision: str | None,
    reason: str,
    actor: str,
    bulk_id: int,
) -> None:
    """Set (None: clear) the decision of every caption, one history row each (bulk_id set).
    Call inside the caller's transaction."""
    frame = pl.DataFrame({"caption_id": caption_ids}, schema={"caption_id": pl.Int64})
    with registered(con, "_bulk_captions", frame):
        con.execute(
            "INSERT INTO relevance_decision_events (caption_id, actor, action, decision_before, "
            "reason_before, decision_after, reason_after, bulk_id) SELECT b.caption_id, ?, "
            "'bulk', d.decision, d.reason, ?, ?, ? FROM _bulk_captions b LEFT JOIN "
            "relevance_decisions d USING (caption_id) ORDER BY b.caption_id",
            [actor, decision, reason if decision is not None else None, bulk_id],
        )
        _replace_decisions(
            con,
            "SELECT caption_id, ?, ?, ? FROM _bulk_captions",
            decision,
            [decision, reason, actor],
        )


def _replace_decisions(con, select_sql: str, decision, params: list) -> None:
    con.execute(
        "DELETE FROM relevance_decisions WHERE caption_id IN (SELECT caption_id FROM "
        "_bulk_captions)"
    )
    if decision is not None:
        con.execute(
            "INSERT INTO relevance_decisions (caption_id, decision, reason, actor, at_time) "
            f"SELECT *, current_timestamp FROM ({select_sql})",
            params,
        )


def get_bulk_event(con: duckdb.DuckDBPyConnection, bulk_id: int) -> dict | None:
    """One bulk event, or None."""
    return fetch_dict(
        con,
        "SELECT bulk_id, actor, at_time, action, decision, reason, filter_json, n_captions, "
        "reverts_bulk_id FROM relevance_bulk_events WHERE bulk_id = ?",
        [bulk_id],
    )


def count_bulk_captions_changed_since(con: duckdb.DuckDBPyConnection, bulk_id: int) -> int:
    """Captions of a bulk event whose newest history row is a later change."""
    return int(
        fetch_value(
            con,
            "SELECT count(*) FROM relevance_decision_events e WHERE e.bulk_id = ? AND "
            "e.event_id < (SELECT max(l.event_id) FROM relevance_decision_events l "
            "WHERE l.caption_id = e.caption_id)",
            [bulk_id],
        )
    )


def revert_decisions_bulk(
    con: duckdb.DuckDBPyConnection, bulk_id: int, *, actor: str, undo_bulk_id: int
) -> None:
    """Restore the decision every caption of bulk event `bulk_id` had before it, with one
    'undo' history row each (bulk_id = `undo_bulk_id`). Call inside the caller's
    transaction, after checking that no caption changed since."""
    events = fetch_frame(
        con,
        "SELECT event_id, caption_id, decision_before, reason_before, decision_after, "
        "reason_after FROM relevance_decision_events WHERE bulk_id = ? ORDER BY caption_id",
        [bulk_id],
    )
    with registered(con, "_bulk_captions", events):
        con.execute(
            "INSERT INTO relevance_decision_events (caption_id, actor, action, decision_before, "
            "reason_before, decision_after, reason_after, reverts_event_id, bulk_id) SELECT "
            "caption_id, ?, 'undo', decision_after, reason_after, decision_before, "
            "reason_before, event_id, ? FROM _bulk_captions ORDER BY caption_id",
            [actor, undo_bulk_id],
        )
        _replace_decisions(
            con,
            "SELECT caption_id, decision_before, coalesce(reason_before, ?), ? FROM "
            "_bulk_captions WHERE decision_before IS NOT NULL",
            "restore",
            [f"undo of bulk event {bulk_id}", actor],
        )


def list_bulk_events(con: duckdb.DuckDBPyConnection, *, limit: int = 50) -> pl.DataFrame:
    """Bulk events, newest first, with whether a later undo reverted each."""
    return fetch_frame(
        con,
        "SELECT b.bulk_id, b.at_time, b.actor, b.action, b.decision, b.n_captions, b.reason, "
        "b.filter_json, b.reverts_bulk_id, (SELECT max(u.bulk_id) FROM relevance_bulk_events u "
        "WHERE u.reverts_bulk_id = b.bulk_id) AS undone_by FROM relevance_bulk_events b "
        "ORDER BY b.bulk_id DESC LIMIT ?",
        [limit],
    )


def get_latest_actor_event(con: duckdb.DuckDBPyConnection, actor: str) -> dict | None:
    """The newest single-caption history row (not part of a bulk event) by `actor`, or None."""
    return fetch_dict(
        con,
        "SELECT event_id, caption_id, action, decision_before, decision_after, reason_after, "
        "at_time FROM relevance_decision_events WHERE actor = ? AND bulk_id IS NULL "
        "ORDER BY event_id DESC LIMIT 1",
        [actor],
    )
