"""Class descriptions: candidates per source, the active description per class, its history.

A curator either picks a candidate (the active text gets that source) or writes/edits text
(the active text gets source 'manual'; the event's `source_before` keeps what it was edited
from, so attribution of an adapted text is never lost). Every change appends one row to
`description_events` with who, when, before, after, source, revision and the revision the
editor saw (`based_on_revision`). A revert is a new event restoring the text (and source)
from before the chosen event; undo is a revert of the newest event.

Concurrent editors: each change runs in one transaction that DuckDB retries on write-write
conflicts. A change that names the revision its editor saw (`based_on_revision`) is refused
with `DescriptionConflict` when the description moved on meanwhile; the check and the write
are in the same transaction, so no edit silently overwrites a colleague's. The conflict
carries their text, so the editor can keep theirs, keep mine (save again naming the revision
now seen) or merge by hand.

Every write entry point checks the actor's role first (`curation.access`, edit_descriptions).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import duckdb
import polars as pl

from curation import access
from curation.description_imports import (  # noqa: F401 (re-exported)
    DescriptionImportReport,
    import_builtin_sources,
    import_description_content,
    import_wikipedia_file,
)
from curation.description_sources import (  # noqa: F401 (re-exported)
    MAX_DESCRIPTION_CHARS,
    get_description_source,
    list_description_sources,
    validate_description_text,
)
from db import classes as class_db
from db import descriptions as desc_db
from db.sql import transaction

ACTIONS = ("edit", "pick")


class DescriptionConflict(ValueError):
    """The description changed since the editor opened it; nothing was written.

    Attributes:
        wnid: the class.
        based_on_revision: the revision the editor saw.
        revision: the revision now current.
        their_text, their_source: the description now active (None: cleared).
        their_actor: who made the newest change.
    """

    def __init__(self, wnid: str, based_on_revision: int, revision: int, current, actor):
        self.wnid, self.based_on_revision, self.revision = wnid, based_on_revision, revision
        self.their_text = current["text"] if current else None
        self.their_source = current["source"] if current else None
        self.their_actor = actor
        super().__init__(
            f"{wnid}: the description changed since you opened it (you saw revision "
            f"{based_on_revision}, it is now revision {revision}, changed by {actor}). Nothing "
            f"was saved: compare, then save again based on revision {revision} to keep yours."
        )


@dataclass(frozen=True)
class DescriptionChange:
    """What a change did.

    Attributes:
        wnid: the class.
        changed: False when the text and source were already as requested (no event).
        event_id: the new history row, or None when nothing changed.
        revision: the class's revision after the call.
        based_on_revision: the revision the editor started from.
        conflict: always False for a change that was written (a conflicting change raises
            `DescriptionConflict` instead); kept for callers that test it.
    """

    wnid: str
    changed: bool
    event_id: int | None
    revision: int
    based_on_revision: int | None
    conflict: bool

    def describe(self) -> str:
        """One line for the user."""
        if not self.changed:
            return f"{self.wnid}: unchanged (revision {self.revision})."
        line = f"{self.wnid}: saved as revision {self.revision} (event {self.event_id})."
        return line


def get_active_description(con: duckdb.DuckDBPyConnection, wnid: str) -> dict | None:
    """The active description of a class (`source`, `text`, `revision`, ...), or None."""
    _require_class(con, wnid)
    return desc_db.get_active_description(con, wnid)


def list_active_descriptions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """All active descriptions: `wnid`, `class_index`, `name`, `source`, `text`, `revision`,
    `updated_by`, `updated_at`; one row per class that has one, in class-index order."""
    return desc_db.list_active_descriptions(con)


def list_description_candidates(con: duckdb.DuckDBPyConnection, wnid: str) -> pl.DataFrame:
    """Candidate texts of a class: `source`, `title`, `license`, `text`, `imported_at`."""
    _require_class(con, wnid)
    return desc_db.list_description_candidates(con, wnid)


def list_description_coverage(
    con: duckdb.DuckDBPyConnection, *, search: str = "", only_unset: bool = False
) -> pl.DataFrame:
    """Per class: which sources have a candidate and which description is active.

    Args:
        search: case-insensitive substring of the wnid, name or lemmas ('' = all).
        only_unset: keep only classes without an active description.

    Returns:
        Columns `wnid`, `class_index`, `name`, `lemmas` (the other names, comma-separated),
        one boolean column per candidate source (named by its key), `n_sources`,
        `active_source` (null when unset), `revision`.
    """
    keys = [s.key for s in list_description_sources() if s.origin != "curator"]
    classes = class_db.list_classes(con).select("wnid", "class_index", "name", "lemmas")
    pairs = desc_db.list_candidate_sources(con)
    flags = [
        pl.col("wnid").is_in(pairs.filter(pl.col("source") == key)["wnid"].implode()).alias(key)
        for key in keys
    ]
    active = desc_db.list_active_descriptions(con).select(
        "wnid", pl.col("source").alias("active_source"), "revision"
    )
    frame = classes.with_columns(flags).with_columns(n_sources=pl.sum_horizontal(keys))
    frame = frame.join(active, on="wnid", how="left", maintain_order="left")
    return filter_description_coverage(frame, search=search, only_unset=only_unset)


def filter_description_coverage(
    coverage: pl.DataFrame, *, search: str = "", only_unset: bool = False
) -> pl.DataFrame:
    """The rows of `list_description_coverage(con)` that match a search and the unset filter
    (the same arguments), without asking the database again."""
    if search.strip():
        needle = search.strip().lower()
        coverage = coverage.filter(
            pl.concat_str("wnid", "name", "lemmas", separator=" ", ignore_nulls=True)
            .str.to_lowercase()
            .str.contains(needle, literal=True)
        )
    if only_unset:
        coverage = coverage.filter(pl.col("active_source").is_null())
    return coverage


def update_active_description(
    con: duckdb.DuckDBPyConnection,
    wnid: str,
    *,
    text: str,
    actor: str,
    source: str = "manual",
    based_on_revision: int | None = None,
    action: str = "edit",
) -> DescriptionChange:
    """Make `text` the active description of a class, recording the change.

    Args:
        wnid: a class of the catalog.
        text: stored verbatim; not empty or whitespace, at most `MAX_DESCRIPTION_CHARS`.
        actor: who makes the change (recorded).
        source: a registered source key; 'manual' for text a curator wrote or edited.
        based_on_revision: the revision the editor saw; None = the current one.
        action: 'edit' or 'pick'.

    Raises:
        ValueError: unknown class, source or action; empty, too long or non-text text;
            empty actor. Nothing is written then.
        DescriptionConflict: the description changed after `based_on_revision`.
        access.AccessDenied: the actor may not edit descriptions.
    """
    _require_class(con, wnid)
    validate_description_text(text)
    get_description_source(source)
    if action not in ACTIONS:
        raise ValueError(f"Unknown action {action!r}; valid actions: {', '.join(ACTIONS)}.")
    return _apply_change(
        con,
        wnid,
        source=source,
        text=text,
        actor=_authorize(con, actor),
        action=action,
        based_on_revision=based_on_revision,
    )


def adopt_typed_description(
    con: duckdb.DuckDBPyConnection, wnid: str, *, text: str, actor: str | None
) -> DescriptionChange | None:
    """Make the text a curator typed for a new class (Add a class) its active description,
    unless the class has one already (a curator's choice is never replaced).

    Runs inside the caller's transaction when there is one (keeping a class is one action).

    Args:
        actor: who typed it (recorded in the history); None or blank: nothing is recorded.

    Returns:
        The change, or None when a description was already active, the text is blank or no
        actor is known.
    """
    if not (isinstance(actor, str) and actor.strip() and isinstance(text, str) and text.strip()):
        return None
    seen = desc_db.get_current_revision(con, wnid)
    if desc_db.get_active_description(con, wnid) is not None:
        return None
    try:
        return update_active_description(con, wnid, text=text, actor=actor, based_on_revision=seen)
    except DescriptionConflict:
        return None  # someone chose one meanwhile: theirs stays


def pick_description(
    con: duckdb.DuckDBPyConnection,
    wnid: str,
    *,
    source: str,
    actor: str,
    based_on_revision: int | None = None,
) -> DescriptionChange:
    """Make the candidate text of `source` the active description of a class.

    Raises:
        ValueError: unknown class or source, or the source has no text for this class (the
            message lists the sources that have one).
    """
    _require_class(con, wnid)
    get_description_source(source)
    text = desc_db.get_description_candidate(con, wnid, source)
    if text is None:
        have = desc_db.list_description_candidates(con, wnid)["source"].to_list()
        raise ValueError(
            f"The source {source!r} has no description for {wnid}; sources with one: "
            f"{', '.join(have) or 'none (import some first)'}."
        )
    return update_active_description(
        con,
        wnid,
        text=text,
        actor=actor,
        source=source,
        based_on_revision=based_on_revision,
        action="pick",
    )


def clear_active_description(
    con: duckdb.DuckDBPyConnection, wnid: str, *, actor: str, based_on_revision: int | None = None
) -> DescriptionChange:
    """Remove the active description of a class (recorded as a 'clear' event)."""
    _require_class(con, wnid)
    return _apply_change(
        con,
        wnid,
        source=None,
        text=None,
        actor=_authorize(con, actor),
        action="clear",
        based_on_revision=based_on_revision,
    )


def list_description_history(con: duckdb.DuckDBPyConnection, wnid: str) -> pl.DataFrame:
    """Every change of a class's description, newest first (`description_events` columns)."""
    _require_class(con, wnid)
    return desc_db.list_description_events(con, wnid)


def revert_description_event(
    con: duckdb.DuckDBPyConnection,
    event_id: int,
    *,
    actor: str,
    based_on_revision: int | None = None,
) -> DescriptionChange:
    """Restore the description as it was before event `event_id`, as a new 'revert' event.

    Reverting the first event of a class clears its description; reverting a revert redoes.

    Raises:
        ValueError: no such event, or an empty actor.
    """
    actor = _authorize(con, actor)
    event = desc_db.get_description_event(con, int(event_id))
    if event is None:
        raise ValueError(
            f"No description event with id {event_id}; "
            "see `workbench descriptions history WNID` for the ids."
        )
    return _apply_change(
        con,
        event["wnid"],
        source=event["source_before"],
        text=event["text_before"],
        actor=actor,
        action="revert",
        based_on_revision=based_on_revision,
        reverts_event_id=event["event_id"],
    )


def undo_last_description_change(
    con: duckdb.DuckDBPyConnection, wnid: str, *, actor: str
) -> DescriptionChange:
    """Revert the newest change of a class's description.

    Raises:
        ValueError: unknown class, or the class has no history.
    """
    _require_class(con, wnid)
    event_id = desc_db.get_latest_event_id(con, wnid)
    if event_id is None:
        raise ValueError(f"{wnid} has no description changes to undo.")
    return revert_description_event(con, event_id, actor=actor)


def use_source_where_unset(con: duckdb.DuckDBPyConnection, *, source: str, actor: str) -> int:
    """Make `source`'s candidate the active description of every class that has none.

    One transaction; one 'bulk' event per class changed.

    Returns:
        How many classes changed.
    """
    get_description_source(source)
    actor = _authorize(con, actor)

    def work(tx: duckdb.DuckDBPyConnection) -> int:
        frame = desc_db.list_unset_with_candidate(tx, source=source)
        return desc_db.insert_bulk_changes(tx, source=source, actor=actor, frame=frame)

    return transaction(con, work)


def count_unset_with_source(con: duckdb.DuckDBPyConnection, *, source: str) -> int:
    """How many classes `use_source_where_unset(source=...)` would change now."""
    get_description_source(source)
    return desc_db.list_unset_with_candidate(con, source=source).height


def compute_description_diff(
    before: str | None, after: str | None, *, labels=("before", "after")
) -> str:
    """A unified diff of two texts, one sentence per line so a change stays local."""
    diff = difflib.unified_diff(
        _split_sentences(before),
        _split_sentences(after),
        fromfile=labels[0],
        tofile=labels[1],
        lineterm="",
        n=1,
    )
    return "\n".join(diff) or "(no change in text)"


def compute_word_diff(before: str | None, after: str | None) -> str:
    """An inline word diff like `git diff --word-diff`: `[-removed-]{+added+}`."""
    # Words keep their trailing whitespace, so a run of changed words forms one change.
    old, new = re.findall(r"\s*\S+\s*", before or ""), re.findall(r"\s*\S+\s*", after or "")
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append("".join(old[i1:i2]))
            continue
        if i2 > i1:
            parts.append(f"[-{''.join(old[i1:i2])}-]")
        if j2 > j1:
            parts.append(f"{{+{''.join(new[j1:j2])}+}}")
    return "".join(parts)


def _split_sentences(text: str | None) -> list[str]:
    if not text:
        return []
    return [part for part in re.split(r"(?<=[.!?;])\s+|\n", text) if part]


def _apply_change(
    con: duckdb.DuckDBPyConnection,
    wnid: str,
    *,
    source: str | None,
    text: str | None,
    actor: str,
    action: str,
    based_on_revision: int | None,
    reverts_event_id: int | None = None,
) -> DescriptionChange:
    """Write one change (text None = clear) and its event in one retried transaction."""

    def work(tx: duckdb.DuckDBPyConnection) -> DescriptionChange:
        current = desc_db.get_active_description(tx, wnid)
        revision = desc_db.get_current_revision(tx, wnid)
        based = revision if based_on_revision is None else int(based_on_revision)
        if based != revision:
            last = desc_db.get_latest_event_id(tx, wnid)
            actor_now = desc_db.get_description_event(tx, last)["actor"] if last else None
            raise DescriptionConflict(wnid, based, revision, current, actor_now)
        before = (current["source"], current["text"]) if current else (None, None)
        if before == (source, text):
            return DescriptionChange(wnid, False, None, revision, based, False)
        if text is None:
            desc_db.delete_active_row(tx, wnid)
        else:
            desc_db.update_active_row(
                tx, wnid=wnid, source=source, text=text, revision=revision + 1, actor=actor
            )
        event_id = desc_db.insert_description_event(
            tx,
            wnid=wnid,
            actor=actor,
            action=action,
            source_before=before[0],
            text_before=before[1],
            source_after=source,
            text_after=text,
            revision_after=revision + 1,
            based_on_revision=based,
            reverts_event_id=reverts_event_id,
        )
        return DescriptionChange(wnid, True, event_id, revision + 1, based, False)

    return transaction(con, work)


def _require_class(con: duckdb.DuckDBPyConnection, wnid: str) -> None:
    if not isinstance(wnid, str) or class_db.get_class(con, wnid) is None:
        raise ValueError(
            f"Unknown class {wnid!r}: not in the catalog (add it on the catalog first, "
            "or check the wnid, e.g. n01440764)."
        )


def _authorize(con: duckdb.DuckDBPyConnection, actor: object) -> str:
    """The actor of a description write, after the role check (the one call per entry)."""
    return _validate_actor(access.require(con, actor, "edit_descriptions"))


def _validate_actor(actor: object) -> str:
    """The actor `access.require` returned (already stripped), refused when empty."""
    if not isinstance(actor, str) or not actor:
        raise ValueError("Say who makes the change: the actor name cannot be empty.")
    return actor
