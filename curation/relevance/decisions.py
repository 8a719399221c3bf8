"""A curator's word over the model: keep/drop a caption with a reason, undo; bulk keep/drop of
every caption a filter matches as one undoable event; thresholds per model version.

Every change is one retried transaction (`db.sql.transaction`) that reads the state it
replaces inside it and appends a history row, as class descriptions do
(`curation.descriptions`). A change that names the history event its editor saw
(`seen_event`) is refused with `ChangedMeanwhile` when a colleague changed the same decision
or threshold after that; the check and the write are in one transaction, so no change
silently overwrites another person's. Undo restores what the newest change of a caption
replaced; only the newest change can be undone (undo the later ones first), so the history
always reads as a sequence of states.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from contract.specs import check_choice
from curation import access
from curation.relevance.rules import (
    DEFAULT_THRESHOLDS,
    DROP_RULES,
    GLOBAL_THRESHOLD,
    SUSPECT_THRESHOLD,
    check_suspect_scores,
)
from curation.relevance.specs import CaptionFilter
from db import relevance as relevance_db
from db import relevance_decisions as decision_db
from db import relevance_scores as scores_db
from db.sql import transaction

DECISIONS = ("keep", "drop")
NOT_CHECKED = "not checked"  # `seen_event` default: write whatever happened meanwhile (CLI)


class ChangedMeanwhile(ValueError):
    """A decision or threshold changed after its editor opened it; nothing was written.

    Attributes:
        subject: what changed ('caption 12', 'the global threshold of version 3', ...).
        seen_event: the newest history event the editor saw (None: none yet).
        event_id: the newest event now.
        their_actor, their_value, their_reason: that event's author, value and reason.
    """

    def __init__(self, subject: str, seen_event: int | None, current: dict, value_key: str):
        self.subject, self.seen_event, self.event_id = subject, seen_event, current["event_id"]
        self.their_actor = current["actor"]
        self.their_value = current[value_key]
        self.their_reason = current.get("reason_after") or current.get("reason")
        shown = "cleared" if self.their_value is None else self.their_value
        super().__init__(
            f"Not saved: {self.their_actor} changed {subject} to {shown} (history event "
            f"{self.event_id}, reason: {self.their_reason}) after you opened it. Keep theirs, "
            f"or apply yours again to replace it."
        )


def _check_seen(subject: str, seen_event, current: dict | None, value_key: str) -> None:
    """Raise `ChangedMeanwhile` when the newest event is not the one the editor saw."""
    if seen_event == NOT_CHECKED:
        return
    now = current["event_id"] if current else None
    if now != (None if seen_event is None else int(seen_event)):
        raise ChangedMeanwhile(subject, seen_event, current, value_key)


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
    seen_event: int | None | str = NOT_CHECKED,
) -> DecisionChange:
    """Set (or, with decision=None, clear) a person's keep/drop on a caption.

    Args:
        decision: 'keep', 'drop', or None to go back to the model's decision.
        reason: why (required, shown in the history).
        actor: who (required).
        seen_event: the caption's newest history event when the editor opened it (None: it
            had none; `get_seen_decision_event`); NOT_CHECKED writes regardless.

    Raises:
        ChangedMeanwhile: someone changed this caption's decision after `seen_event`.
        ValueError: unknown decision, empty reason or actor, or unknown caption.
    """
    check_choice("decision", decision, (*DECISIONS, None))
    reason, actor = _required(reason, "a reason"), _required(actor, "who decides (actor)")
    access.require(con, actor, "decide_relevance")
    if not decision_db.has_caption(con, int(caption_id)):
        raise ValueError(f"Caption {caption_id} does not exist.")
    action = "set" if decision is not None else "clear"
    caption_id = int(caption_id)

    def work(tx: duckdb.DuckDBPyConnection) -> DecisionChange:
        latest = decision_db.get_latest_decision_event(tx, caption_id)
        _check_seen(f"caption {caption_id}", seen_event, latest, "decision_after")
        return _write(tx, caption_id, decision, reason, actor, action, None)

    return transaction(con, work)


def get_seen_decision_event(con: duckdb.DuckDBPyConnection, caption_id: int) -> int | None:
    """The newest history event of a caption (None: none), to pass back as `seen_event`."""
    latest = decision_db.get_latest_decision_event(con, int(caption_id))
    return int(latest["event_id"]) if latest else None


def get_seen_threshold_event(
    con: duckdb.DuckDBPyConnection, model_version: int, wnid: str | None = None
) -> int | None:
    """The newest change of a threshold (wnid None: the global one), for `seen_event`."""
    key = decision_db.GLOBAL_WNID if wnid is None else wnid
    rule = get_drop_rule(con, model_version)
    latest = decision_db.get_latest_threshold_event(con, int(model_version), key, rule=rule)
    return int(latest["event_id"]) if latest else None


def undo_decision_event(
    con: duckdb.DuckDBPyConnection, event_id: int, *, actor: str
) -> DecisionChange:
    """Undo one history event: restore the decision it replaced, as a new 'undo' event.

    Raises:
        ValueError: no such event, or it is not the newest change of its caption.
    """
    actor = _required(actor, "who undoes (actor)")
    access.require(con, actor, "decide_relevance")

    def work(tx: duckdb.DuckDBPyConnection) -> DecisionChange:
        event = decision_db.get_decision_event(tx, int(event_id))
        if event is None:
            raise ValueError(f"Decision event {event_id} does not exist.")
        latest = get_seen_decision_event(tx, event["caption_id"])
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


def get_drop_rule(con: duckdb.DuckDBPyConnection, model_version: int) -> str:
    """A model version's drop rule (`rules.DROP_RULES`): the last one chosen, else 'paper'."""
    return decision_db.get_drop_rule(con, int(model_version)) or "paper"


def update_drop_rule(
    con: duckdb.DuckDBPyConnection, *, model_version: int, rule: str, reason: str, actor: str
) -> None:
    """Choose the drop rule of a model version (its thresholds under each rule are kept).

    Raises:
        ValueError: unknown rule or version, empty reason or actor; the suspect rule on a
            version whose scores lack the suspect scores.
    """
    check_choice("rule", rule, DROP_RULES)
    reason, actor = _required(reason, "a reason"), _required(actor, "who decides (actor)")
    access.require(con, actor, "set_threshold")
    if relevance_db.get_model_version(con, int(model_version)) is None:
        raise ValueError(f"Model version {model_version} does not exist.")
    if rule == "suspect":
        check_suspect_scores(scores_db.list_scored_captions(con, int(model_version)))
    transaction(
        con,
        lambda tx: decision_db.insert_rule_event(
            tx, int(model_version), rule, reason=reason, actor=actor
        ),
    )


def get_thresholds(
    con: duckdb.DuckDBPyConnection, model_version: int, *, rule: str | None = None
) -> tuple[float, dict[str, float]]:
    """A model version's global threshold and its per-class ones under a drop rule (None: the
    version's own rule). Never set: the paper rule's default for its run's mode
    (`rules.DEFAULT_THRESHOLDS`: 0.5 fine-tune, 0.05 frozen), or `SUSPECT_THRESHOLD`."""
    rule = rule or get_drop_rule(con, model_version)
    rows = decision_db.list_version_thresholds(con, int(model_version), rule=rule)
    values = dict(zip(rows["wnid"].to_list(), rows["threshold"].to_list(), strict=True))
    overall = values.pop(decision_db.GLOBAL_WNID, None)
    if overall is None and rule == "suspect":
        overall = SUSPECT_THRESHOLD
    if overall is None:
        version = relevance_db.get_model_version(con, int(model_version))
        mode = version["run"]["mode"] if version else "finetune"
        overall = DEFAULT_THRESHOLDS.get(mode, GLOBAL_THRESHOLD)
    return float(overall), values


def update_global_threshold(
    con: duckdb.DuckDBPyConnection,
    *,
    model_version: int,
    threshold: float,
    reason: str,
    actor: str,
    seen_event: int | None | str = NOT_CHECKED,
) -> None:
    """Set a model version's global threshold on P(own class) (the export uses it).

    Args:
        seen_event: the threshold's newest change when the editor opened it
            (`get_seen_threshold_event`); NOT_CHECKED writes regardless.

    Raises:
        ChangedMeanwhile: someone changed it after `seen_event`.
        ValueError: threshold outside [0, 1], empty reason or actor, or unknown version.
    """
    _set_threshold(
        con, int(model_version), decision_db.GLOBAL_WNID, threshold, reason, actor, seen_event
    )


def update_class_threshold(
    con: duckdb.DuckDBPyConnection,
    wnid: str,
    *,
    model_version: int,
    threshold: float | None,
    reason: str,
    actor: str,
    seen_event: int | None | str = NOT_CHECKED,
) -> None:
    """Give a class its own threshold in one model version, or (None) return it to the
    version's global one.

    Args:
        seen_event: as in `update_global_threshold`, for this class's threshold.

    Raises:
        ChangedMeanwhile: someone changed it after `seen_event`.
        ValueError: threshold outside [0, 1], empty reason or actor, unknown class or version.
    """
    if not decision_db.has_class(con, wnid):
        raise ValueError(f"Class {wnid!r} is not in the catalog.")
    _set_threshold(con, int(model_version), wnid, threshold, reason, actor, seen_event)


def _set_threshold(con, model_version: int, wnid, threshold, reason, actor, seen_event) -> None:
    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    reason, actor = _required(reason, "a reason"), _required(actor, "who decides (actor)")
    access.require(con, actor, "set_threshold")
    if relevance_db.get_model_version(con, model_version) is None:
        raise ValueError(f"Model version {model_version} does not exist.")

    subject = f"the {'global' if wnid == decision_db.GLOBAL_WNID else wnid} threshold of version "
    subject += str(model_version)

    def work(tx: duckdb.DuckDBPyConnection) -> None:
        rule = get_drop_rule(tx, model_version)  # a threshold belongs to the rule in force
        latest = decision_db.get_latest_threshold_event(tx, model_version, wnid, rule=rule)
        _check_seen(subject, seen_event, latest, "threshold_after")
        before = decision_db.get_version_threshold(tx, model_version, wnid, rule=rule)
        decision_db.update_version_threshold_row(
            tx, model_version, wnid, threshold=threshold, reason=reason, actor=actor, rule=rule
        )
        decision_db.insert_threshold_event(
            tx,
            model_version,
            wnid,
            before=before,
            after=threshold,
            reason=reason,
            actor=actor,
            rule=rule,
        )

    transaction(con, work)


@dataclass(frozen=True)
class BulkChange:
    """What a bulk change did: its event id, the decision after (None = the model decides),
    how many captions, and the bulk event it undid (None for a new bulk decision)."""

    bulk_id: int
    decision: str | None
    n_captions: int
    reverts_bulk_id: int | None = None

    def describe(self) -> str:
        """One line for the user."""
        if self.reverts_bulk_id is not None:
            return (
                f"Undid bulk event {self.reverts_bulk_id}: {self.n_captions} captions have "
                f"their previous decision again (bulk event {self.bulk_id})."
            )
        what = self.decision or "back to the model's decision"
        return f"{self.n_captions} captions: {what} (bulk event {self.bulk_id})."


def update_decisions_bulk(
    con: duckdb.DuckDBPyConnection,
    caption_filter: CaptionFilter,
    *,
    decision: str | None,
    reason: str,
    actor: str,
    expected_count: int | None = None,
) -> BulkChange:
    """Keep, drop (or return to the model) every caption the filter matches, as one event.

    Args:
        expected_count: the number of matches the user saw; when the filter now matches
            another number (the data changed), nothing is written.

    Raises:
        ValueError: unknown decision, empty reason/actor, no match, or a changed match count.
    """
    check_choice("decision", decision, (*DECISIONS, None))
    reason, actor = _required(reason, "a reason"), _required(actor, "who decides (actor)")
    access.require(con, actor, "decide_relevance")

    def work(tx: duckdb.DuckDBPyConnection) -> BulkChange:
        ids = list_filtered_caption_ids(tx, caption_filter)
        if not ids:
            raise ValueError(f"No caption matches ({caption_filter.describe()}).")
        if expected_count is not None and len(ids) != expected_count:
            raise ValueError(
                f"The filter now matches {len(ids)} captions, not {expected_count}: the data "
                "changed. Look at the matches again before applying."
            )
        bulk_id = decision_db.insert_bulk_event(
            tx,
            actor=actor,
            action="bulk",
            decision=decision,
            reason=reason,
            filter_json=caption_filter.to_json(),
            n_captions=len(ids),
        )
        decision_db.update_decisions_bulk(
            tx, ids, decision=decision, reason=reason, actor=actor, bulk_id=bulk_id
        )
        return BulkChange(bulk_id, decision, len(ids))

    return transaction(con, work)


def undo_bulk_event(con: duckdb.DuckDBPyConnection, bulk_id: int, *, actor: str) -> BulkChange:
    """Restore every caption's decision from before a bulk event, in one transaction.

    Raises:
        ValueError: no such event, or some of its captions changed since (undo those first).
    """
    actor = _required(actor, "who undoes (actor)")
    access.require(con, actor, "decide_relevance")

    def work(tx: duckdb.DuckDBPyConnection) -> BulkChange:
        event = decision_db.get_bulk_event(tx, int(bulk_id))
        if event is None:
            raise ValueError(f"Bulk event {bulk_id} does not exist.")
        changed = decision_db.count_bulk_captions_changed_since(tx, int(bulk_id))
        if changed:
            raise ValueError(
                f"{changed} of the {event['n_captions']} captions of bulk event {bulk_id} "
                "were changed after it: undo those changes first."
            )
        undo_id = decision_db.insert_bulk_event(
            tx,
            actor=actor,
            action="undo",
            decision=None,
            reason=f"undo of bulk event {bulk_id}",
            filter_json=event["filter_json"],
            n_captions=event["n_captions"],
            reverts_bulk_id=int(bulk_id),
        )
        decision_db.revert_decisions_bulk(tx, int(bulk_id), actor=actor, undo_bulk_id=undo_id)
        return BulkChange(undo_id, None, int(event["n_captions"]), int(bulk_id))

    return transaction(con, work)


def list_filtered_caption_ids(
    con: duckdb.DuckDBPyConnection, caption_filter: CaptionFilter
) -> list[int]:
    """The caption ids a filter matches now (what a bulk change would apply to)."""
    return decision_db.list_filtered_caption_ids(con, **caption_filter.to_dict())


def list_bulk_history(con: duckdb.DuckDBPyConnection, *, limit: int = 50) -> pl.DataFrame:
    """Bulk events, newest first (`undone_by` = the undo event, if any)."""
    return decision_db.list_bulk_events(con, limit=limit)


def get_latest_change(con: duckdb.DuckDBPyConnection, *, actor: str) -> dict | None:
    """A curator's newest single-caption change (to offer its undo), or None."""
    return decision_db.get_latest_actor_event(con, actor)


def list_decision_history(con, *, caption_id: int | None = None, limit: int = 100) -> pl.DataFrame:
    """Decision history, newest first (see `db.relevance_decisions.list_decision_events`)."""
    return decision_db.list_decision_events(con, caption_id=caption_id, limit=limit)


def _required(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"Say {what}: it cannot be empty.")
    return value.strip()
