"""Accept the model's suggested class: a curator moves captions to the class the model ranks
first (one by one or many at once), with a reason; every change is a history event and can
be undone (a batch as one). The caption's original label stays (`captions.wnid`); the
curated one is `relevance_relabels.wnid`. The export carries both (`original_wnid`,
`curated_wnid`) and the next training uses the curated one (`dataset.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from curation.relevance.decisions import _required
from db import relevance_relabels as relabel_db
from db.sql import transaction


@dataclass(frozen=True)
class RelabelChange:
    """What a relabel (or its undo) did: how many captions, the batch (None for one caption),
    the newest event id, and the batch or event it undid."""

    n_captions: int
    batch_id: int | None
    event_id: int | None
    reverts: int | None = None

    def describe(self) -> str:
        """One line for the user."""
        if self.reverts is not None:
            return f"Undid relabel {self.reverts}: {self.n_captions} caption(s) back."
        where = f"batch {self.batch_id}" if self.batch_id is not None else f"event {self.event_id}"
        return f"{self.n_captions} caption(s) moved to the suggested class ({where})."


def accept_suggested_classes(
    con: duckdb.DuckDBPyConnection,
    caption_ids: list[int],
    *,
    model_version: int,
    reason: str,
    actor: str,
) -> RelabelChange:
    """Relabel each caption to the class `model_version` suggests for it, in one transaction
    (several captions share a batch id and undo together).

    Raises:
        ValueError: no captions, empty reason or actor, a caption the version did not score
            (named), or one whose suggested class is already its class (named).
    """
    reason, actor = _required(reason, "a reason"), _required(actor, "who decides (actor)")
    ids = sorted({int(c) for c in caption_ids})
    if not ids:
        raise ValueError("Pick at least one caption to relabel.")

    def work(tx: duckdb.DuckDBPyConnection) -> RelabelChange:
        rows = relabel_db.list_suggested_wnids(tx, int(model_version), ids)
        _check_suggestions(rows, model_version)
        changes = rows.select(
            "caption_id",
            pl.col("curated_wnid").alias("wnid_before"),
            pl.when(pl.col("suggested_wnid") == pl.col("original_wnid"))
            .then(None)
            .otherwise(pl.col("suggested_wnid"))
            .alias("wnid_after"),
            pl.lit(None, pl.Int64).alias("reverts_event_id"),
        )
        batch = relabel_db.next_batch_id(tx) if len(ids) > 1 else None
        relabel_db.update_relabels(
            tx, changes, action="set", reason=reason, actor=actor, batch_id=batch
        )
        return RelabelChange(len(ids), batch, relabel_db.get_latest_relabel_event_id(tx, ids[-1]))

    return transaction(con, work)


def _check_suggestions(rows: pl.DataFrame, model_version: int) -> None:
    unscored = rows.filter(pl.col("suggested_wnid").is_null())["caption_id"].to_list()
    if unscored:
        raise ValueError(
            f"Model version {model_version} suggests no class for captions {unscored[:5]} "
            "(not scored, or scored before suggestions were stored): score them first."
        )
    current = pl.coalesce("curated_wnid", "original_wnid")
    same = rows.filter(pl.col("suggested_wnid") == current)["caption_id"].to_list()
    if same:
        raise ValueError(
            f"Captions {same[:5]} are already in the class the model suggests: nothing to accept."
        )


def undo_relabel(
    con: duckdb.DuckDBPyConnection,
    *,
    actor: str,
    event_id: int | None = None,
    batch_id: int | None = None,
) -> RelabelChange:
    """Undo one relabel event, or every event of a batch, restoring the labels before it.

    Raises:
        ValueError: neither or both given, unknown event or batch, or a caption changed
            after it (undo that first).
    """
    actor = _required(actor, "who undoes (actor)")
    if (event_id is None) == (batch_id is None):
        raise ValueError("Say which relabel to undo: an event id or a batch id.")

    def work(tx: duckdb.DuckDBPyConnection) -> RelabelChange:
        events = _events_to_undo(tx, event_id, batch_id)
        changes = events.select(
            "caption_id",
            pl.col("wnid_after").alias("wnid_before"),
            pl.col("wnid_before").alias("wnid_after"),
            pl.col("event_id").alias("reverts_event_id"),
        )
        what = f"batch {batch_id}" if batch_id is not None else f"event {event_id}"
        relabel_db.update_relabels(
            tx, changes, action="undo", reason=f"undo of relabel {what}", actor=actor, batch_id=None
        )
        return RelabelChange(events.height, None, None, reverts=batch_id or event_id)

    return transaction(con, work)


def _events_to_undo(tx, event_id, batch_id) -> pl.DataFrame:
    if batch_id is not None:
        events = relabel_db.list_batch_events(tx, int(batch_id))
        if events.is_empty():
            raise ValueError(f"Relabel batch {batch_id} does not exist.")
    else:
        event = relabel_db.get_relabel_event(tx, int(event_id))
        if event is None:
            raise ValueError(f"Relabel event {event_id} does not exist.")
        latest = relabel_db.get_latest_relabel_event_id(tx, event["caption_id"])
        events = pl.DataFrame(
            [
                {
                    **{k: event[k] for k in ("event_id", "caption_id")},
                    "is_latest": latest == event_id,
                    "wnid_before": event["wnid_before"],
                    "wnid_after": event["wnid_after"],
                }
            ],
            schema={
                "event_id": pl.Int64,
                "caption_id": pl.Int64,
                "is_latest": pl.Boolean,
                "wnid_before": pl.Utf8,
                "wnid_after": pl.Utf8,
            },
        )
    changed = events.filter(~pl.col("is_latest"))["caption_id"].to_list()
    if changed:
        raise ValueError(
            f"Captions {changed[:5]} were relabelled again after it: undo those changes first."
        )
    return events


def list_relabel_history(con, *, caption_id: int | None = None, limit: int = 100) -> pl.DataFrame:
    """Relabel history, newest first (see `db.relevance_relabels.list_relabel_events`)."""
    return relabel_db.list_relabel_events(con, caption_id=caption_id, limit=limit)
