"""A curator's word over the model: keep/drop a caption with a reason, undo, per-class thresholds.

Every change is one retried transaction (`db.sql.transaction`) that reads the state it
replaces inside it and appends a history row, as class descriptions do
(`curation.descriptions`). Undo restores what the newest change of a caption replaced; only
the newest change can be undone (undo the later ones first), so the history always reads as
a sequence of states.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from db import relevance_decisions as decision_db
from db.sql import transaction

DECISIONS = ("keep", "drop")


@dataclass(frozen=True)
class DecisionChange:
    """What a change did: the caption, its decision after (None = the model decides), the
    history event id."""

    caption_id: int
    decision: str | None
    event_id: int

    def describe(self) -> str:
        """One line for the user."""
        who = self.decision or "back to the model's decision"
        return f"Caption {self.caption_id}: {who} (history event {self.event_id})."


def update_decision(
    con: duckdb.DuckDBPyConnection,
    caption_id: int,
    *,
    decision: str | None,
    reason: str,
    actor: str,
) -> DecisionChange:
    """Set (or, with decision=None, clear) a person's keep/drop on a caption.

    Args:
        decision: 'keep', 'drop', or None to go back to the model's decision.
        reason: why (required, shown in the history).
        actor: who (required).

    Raises:
        ValueError: unknown decision, empty reason or actor, or unknown caption.
    """
    if decision is not None and decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS} or None, got {decision!r}")
    reason, actor = _required(reason, "a reason"), _required(actor, "who decides (actor)")
    if not decision_db.has_caption(con, int(caption_id)):
        raise ValueError(f"Caption {caption_id} does not exist.")
    action = "set" if decision is not None else "clear"
    return _apply(con, int(caption_id), decision, reason, actor, action, None)


def undo_decision_event(
    con: duckdb.DuckDBPyConnection, event_id: int, *, actor: str
) -> DecisionChange:
    """Undo one history event: restore the decision it replaced, as a new 'undo' event.

    Raises:
        ValueError: no such event, or it is not the newest change of its caption.
    """
    actor = _required(actor, "who undoes (actor)")

    def work(tx: duckdb.DuckDBPyConnection) -> DecisionChange:
        event = decision_db.get_decision_event(tx, int(event_id))
        if event is None:
            raise ValueError(f"Decision event {event_id} does not exist.")
        latest = decision_db.get_latest_decision_event_id(tx, event["caption_id"])
        if latest != event["event_id"]:
            raise ValueError(
                f"Event {event_id} is not the latest change of caption {event['caption_id']} "
                f"(event {latest} is): undo that one first."
            )
        reason = event["reason_before"] or f"undo of event {event_id}"
        return _write(
            tx, event["caption_id"], event["decision_before"], reason, actor, "undo", event_id
        )

    return transaction(con, work)


def _apply(con, caption_id, decision, reason, actor, action, reverts) -> DecisionChange:
    return transaction(
        con, lambda tx: _write(tx, caption_id, decision, reason, actor, action, reverts)
    )


def _write(tx, caption_id, decision, reason, actor, action, reverts) -> DecisionChange:
    """The change inside the caller's transaction: replace the row, append the event."""
    before = decision_db.get_decision(tx, caption_id) or {}
    decision_db.update_decision_row(tx, caption_id, decision=decision, reason=reason, actor=actor)
    event_id = decision_db.insert_decision_event(
        tx,
        caption_id=caption_id,
        actor=actor,
        action=action,
        decision_before=before.get("decision"),
        reason_before=before.get("reason"),
        decision_after=decision,
        reason_after=reason if decision is not None else None,
        reverts_event_id=reverts,
    )
    return DecisionChange(caption_id, decision, event_id)


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
        ValueError: threshold outside [0, 1], empty reason or actor, or unknown class.
    """
    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    reason, actor = _required(reason, "a reason"), _required(actor, "who decides (actor)")
    if not decision_db.has_class(con, wnid):
        raise ValueError(f"Class {wnid!r} is not in the catalog.")

    def work(tx: duckdb.DuckDBPyConnection) -> None:
        before = decision_db.get_class_threshold(tx, wnid)
        decision_db.update_class_threshold_row(
            tx, wnid, threshold=threshold, reason=reason, actor=actor
        )
        decision_db.insert_threshold_event(
            tx, wnid, before=before, after=threshold, reason=reason, actor=actor
        )

    transaction(con, work)


def list_decision_history(con, *, caption_id: int | None = None, limit: int = 100) -> pl.DataFrame:
    """Decision history, newest first (see `db.relevance_decisions.list_decision_events`)."""
    return decision_db.list_decision_events(con, caption_id=caption_id, limit=limit)


def _required(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"Say {what}: it cannot be empty.")
    return value.strip()
