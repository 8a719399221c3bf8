"""`workbench relevance ...` review commands: the dataset-wide "most likely wrong" list, a
caption's keep/drop, bulk keep/drop of a filter's matches (one undoable event), thresholds
per model version, and the export."""

from __future__ import annotations

import argparse
import json
import sys

from cli.common import add_actor_option, open_database, resolve_actor


def add_actions(actions, make_action) -> None:
    """Add the review subcommands to `workbench relevance` (`make_action` adds --db)."""
    wrong = make_action(actions, "wrong", "captions most likely wrong, over all classes", handle)
    _add_version_option(wrong)
    wrong.add_argument("--limit", type=int, default=20)
    wrong.add_argument("--wnid", default=None, help="only this class")
    wrong.add_argument(
        "--kind",
        choices=["wrong-class", "no-content", "paper"],
        default="wrong-class",
        help="wrong-class: filed under another class (with the suggested class and how sure); "
        "no-content: says nothing about any class; paper: the paper's lowest P(own) first",
    )
    accept = make_action(
        actions, "accept", "move captions to the class the model suggests (undoable)", handle
    )
    accept.add_argument("caption_ids", type=int, nargs="+")
    accept.add_argument("--reason", required=True)
    _add_version_option(accept)
    add_actor_option(accept)
    undo_accept = make_action(actions, "undo-accept", "undo a relabel event or batch", handle)
    undo_accept.add_argument("--event", type=int, default=None)
    undo_accept.add_argument("--batch", type=int, default=None)
    add_actor_option(undo_accept)
    decide = make_action(actions, "decide", "keep or drop a caption by hand (or clear)", handle)
    decide.add_argument("caption_id", type=int)
    decide.add_argument("decision", choices=["keep", "drop", "clear"])
    decide.add_argument("--reason", required=True)
    add_actor_option(decide)
    bulk = make_action(
        actions, "bulk", "keep or drop every caption a filter matches (one undoable event)", handle
    )
    bulk.add_argument("decision", choices=["keep", "drop", "clear"])
    bulk.add_argument("--reason", required=True)
    _add_version_option(bulk, help_text="scores to filter on (needed for --p-min/--p-max)")
    bulk.add_argument("--wnid", default=None)
    bulk.add_argument("--source", default=None)
    bulk.add_argument("--search", default="", help="substring of title, description or tags")
    bulk.add_argument("--p-min", type=float, default=None)
    bulk.add_argument("--p-max", type=float, default=None)
    bulk.add_argument("--suggested-other", action="store_true", help="model suggests another")
    bulk.add_argument("--dry-run", action="store_true", help="only count the matches")
    add_actor_option(bulk)
    undo = make_action(actions, "undo-bulk", "undo a bulk event (every caption at once)", handle)
    undo.add_argument("bulk_id", type=int)
    add_actor_option(undo)
    threshold = make_action(
        actions, "threshold", "set a model version's global or a class's threshold", handle
    )
    threshold.add_argument("wnid", help="a class wnid, or 'global'")
    threshold.add_argument("value", help="a number in [0, 1], or 'clear' (a class only)")
    threshold.add_argument("--reason", required=True)
    _add_version_option(threshold)
    add_actor_option(threshold)
    rule = make_action(
        actions,
        "rule",
        "choose a model version's drop rule: paper (P(own) below the mean or the threshold) "
        "or suspect (a suspect score at or above the threshold); thresholds apply to it",
        handle,
    )
    rule.add_argument("rule", choices=("paper", "suspect"))
    rule.add_argument("--reason", required=True)
    _add_version_option(rule)
    add_actor_option(rule)
    export = make_action(actions, "export", "write the curated parquet + dataset card", handle)
    _add_version_option(export)
    export.add_argument(
        "--out",
        default="",
        help="a new output folder (default: a new folder under the storage root's exports/); "
        "an existing folder with content is refused, never replaced",
    )
    export.add_argument("--kept-only", action="store_true")
    export.add_argument("--zip", action="store_true", help="also write <out>.zip")


def _add_version_option(parser, *, help_text: str = "default: the best of the newest run"):
    parser.add_argument("--model-version", type=int, default=None, help=help_text)


def _model_version(con, args, *, required: bool = True) -> int | None:
    from db import relevance as relevance_db

    if args.model_version is not None or not required:
        return args.model_version
    version = relevance_db.get_default_model_version(con)
    if version is None:
        raise ValueError("no finished model version yet: run `workbench relevance train` first")
    return version


def handle(args: argparse.Namespace) -> int:
    with open_database(args.db) as con:
        return _HANDLERS[args.relevance_action](con, args)


def _handle_wrong(con, args) -> int:
    from curation.relevance.export import get_decided_captions
    from curation.relevance.rules import RANKINGS, compute_ranking

    decided = get_decided_captions(con, _model_version(con, args))
    ranked = compute_ranking(decided, kind=args.kind, wnid=args.wnid).head(args.limit)
    print(f"{args.kind}: {RANKINGS[args.kind]}", file=sys.stderr)  # stdout: JSON lines
    columns = {
        "wrong-class": ["suspect_wrong_class", "suggested_wnid", "suggested_share", "p_own"],
        "no-content": ["suspect_no_content", "p_own", "p_suggested"],
        "paper": ["p_own", "suggested_wnid", "p_suggested"],
    }[args.kind]
    for row in ranked.select("caption_id", "wnid", *columns, "decision", "title").iter_rows(
        named=True
    ):
        print(json.dumps(row, default=str))
    return 0


def _handle_accept(con, args) -> int:
    from curation.relevance.relabels import accept_suggested_classes

    change = accept_suggested_classes(
        con,
        args.caption_ids,
        model_version=_model_version(con, args),
        reason=args.reason,
        actor=resolve_actor(args.actor),
    )
    print(change.describe())
    return 0


def _handle_undo_accept(con, args) -> int:
    from curation.relevance.relabels import undo_relabel

    change = undo_relabel(
        con, actor=resolve_actor(args.actor), event_id=args.event, batch_id=args.batch
    )
    print(change.describe())
    return 0


def _handle_decide(con, args) -> int:
    from curation.relevance.decisions import update_decision

    decision = None if args.decision == "clear" else args.decision
    change = update_decision(
        con, args.caption_id, decision=decision, reason=args.reason, actor=resolve_actor(args.actor)
    )
    print(change.describe())
    return 0


def _handle_bulk(con, args) -> int:
    from curation.relevance.decisions import list_filtered_caption_ids, update_decisions_bulk
    from curation.relevance.specs import CaptionFilter

    caption_filter = CaptionFilter(
        model_version=_model_version(con, args, required=False),
        wnid=args.wnid,
        source=args.source,
        search=args.search,
        p_min=args.p_min,
        p_max=args.p_max,
        suggested_other=args.suggested_other,
    )
    if args.dry_run:
        n = len(list_filtered_caption_ids(con, caption_filter))
        print(f"{n} captions match ({caption_filter.describe()})")
        return 0
    change = update_decisions_bulk(
        con,
        caption_filter,
        decision=None if args.decision == "clear" else args.decision,
        reason=args.reason,
        actor=resolve_actor(args.actor),
    )
    print(change.describe())
    return 0


def _handle_undo_bulk(con, args) -> int:
    from curation.relevance.decisions import undo_bulk_event

    print(undo_bulk_event(con, args.bulk_id, actor=resolve_actor(args.actor)).describe())
    return 0


def _handle_threshold(con, args) -> int:
    from curation.relevance.decisions import update_class_threshold, update_global_threshold

    version = _model_version(con, args)
    actor = resolve_actor(args.actor)
    value = None if args.value == "clear" else float(args.value)
    if args.wnid == "global":
        if value is None:
            raise ValueError("the global threshold cannot be cleared; set a number in [0, 1]")
        update_global_threshold(
            con, model_version=version, threshold=value, reason=args.reason, actor=actor
        )
    else:
        update_class_threshold(
            con, args.wnid, model_version=version, threshold=value, reason=args.reason, actor=actor
        )
    shown = "the global one" if value is None else value
    print(f"model version {version}, {args.wnid}: threshold {shown}")
    return 0


def _handle_rule(con, args) -> int:
    from curation.relevance.decisions import get_thresholds, update_drop_rule

    version = _model_version(con, args)
    update_drop_rule(
        con,
        model_version=version,
        rule=args.rule,
        reason=args.reason,
        actor=resolve_actor(args.actor),
    )
    overall, per_class = get_thresholds(con, version)
    print(
        f"model version {version}: drop rule {args.rule}, global threshold {overall} "
        f"({len(per_class)} class thresholds)"
    )
    return 0


def _handle_export(con, args) -> int:
    from pathlib import Path

    from contract.files import write_files_zip
    from curation.relevance.export import export_curated_set

    result = export_curated_set(
        con, model_version=_model_version(con, args), out_dir=args.out, kept_only=args.kept_only
    )
    if args.zip:
        folder = Path(result["path"])
        target = folder.with_name(folder.name + ".zip")
        result["zip"] = str(write_files_zip(folder, result["files"], target))
    print(json.dumps(result, indent=2))
    return 0


_HANDLERS = {
    "wrong": _handle_wrong,
    "accept": _handle_accept,
    "undo-accept": _handle_undo_accept,
    "decide": _handle_decide,
    "bulk": _handle_bulk,
    "undo-bulk": _handle_undo_bulk,
    "threshold": _handle_threshold,
    "rule": _handle_rule,
    "export": _handle_export,
}
