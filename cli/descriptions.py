"""`workbench descriptions ...`: import, pick, edit, bulk-set, history and revert of class
descriptions, headless. Same library calls as the Class descriptions page."""

from __future__ import annotations

import argparse
import sys

from cli.common import (
    add_actor_option,
    add_command,
    one_line,
    open_database,
    resolve_actor,
)
from curation import descriptions as desc


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("descriptions", help="class descriptions: import, edit, history")
    actions = parser.add_subparsers(dest="action", required=True)

    _add(actions, "import-builtin", "store the shipped WordNet, Wiktionary and GPT texts")
    wiki = _add(actions, "import-wikipedia", "import Wikipedia summaries (CSV/JSON: wnid, text)")
    wiki.add_argument("file")
    wiki.add_argument(
        "--strict", action="store_true", help="store nothing if any record has a problem"
    )
    use = _add(actions, "use-source", "use SOURCE's text wherever no description is chosen")
    use.add_argument("source")
    put = _add(actions, "set", "write the active description of a class (source 'manual')")
    put.add_argument("wnid")
    group = put.add_mutually_exclusive_group(required=True)
    group.add_argument("--text", help="the description text")
    group.add_argument("--text-file", help="read the text from this UTF-8 file ('-' = stdin)")
    put.add_argument("--based-on-revision", type=int, default=None)
    pick = _add(actions, "pick", "make a source's candidate the active description")
    pick.add_argument("wnid")
    pick.add_argument("source")
    show = _add(actions, "show", "the active description and candidates of a class")
    show.add_argument("wnid")
    history = _add(actions, "history", "every change of a class's description, newest first")
    history.add_argument("wnid")
    history.add_argument("--diff", action="store_true", help="print a diff under each change")
    revert = _add(actions, "revert", "restore the text from before a history event")
    revert.add_argument("event_id", type=int)


def _add(actions: argparse._SubParsersAction, name: str, help_text: str) -> argparse.ArgumentParser:
    sub = add_command(actions, name, help_text, handle)
    add_actor_option(sub)
    return sub


def handle(args: argparse.Namespace) -> int:
    with open_database(args.db) as con:
        return _HANDLERS[args.action](con, args)


def _import_builtin(con, args: argparse.Namespace) -> int:
    counts = desc.import_builtin_sources(con)
    print("Stored candidates: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _import_wikipedia(con, args: argparse.Namespace) -> int:
    report = desc.import_wikipedia_file(con, args.file, strict=args.strict)
    print(report.describe())
    for problem in report.problems[:20]:
        print(f"  invalid {problem['position']}: field {problem['field']}: {problem['reason']}")
    for item in report.unknown_wnids[:20]:
        print(f"  unknown wnid {item['wnid']!r} at {item['position']} (not in the catalog)")
    hidden = max(0, len(report.problems) - 20) + max(0, len(report.unknown_wnids) - 20)
    if hidden:
        print(f"  ... and {hidden} more")
    return 0 if report.stored else 1


def _use_source(con, args: argparse.Namespace) -> int:
    changed = desc.use_source_where_unset(con, source=args.source, actor=resolve_actor(args.actor))
    print(f"Set {changed} class description(s) from {args.source!r}.")
    return 0


def _set(con, args: argparse.Namespace) -> int:
    text = args.text if args.text is not None else _read_text_file(args.text_file)
    change = desc.update_active_description(
        con,
        args.wnid,
        text=text,
        actor=resolve_actor(args.actor),
        based_on_revision=args.based_on_revision,
    )
    print(change.describe())
    return 0


def _pick(con, args: argparse.Namespace) -> int:
    change = desc.pick_description(
        con, args.wnid, source=args.source, actor=resolve_actor(args.actor)
    )
    print(change.describe())
    return 0


def _show(con, args: argparse.Namespace) -> int:
    active = desc.get_active_description(con, args.wnid)
    if active is None:
        print(f"{args.wnid}: no active description")
    else:
        print(f"{args.wnid}: active ({one_line(active['source'])}, revision {active['revision']}):")
        print(active["text"])
    for row in desc.list_description_candidates(con, args.wnid).iter_rows(named=True):
        heading = f"[{row['source']}] {row['title']} ({row['license']})"
        print(f"\n{one_line(heading)}\n{row['text']}")
    return 0


def _history(con, args: argparse.Namespace) -> int:
    events = desc.list_description_history(con, args.wnid)
    if events.is_empty():
        print(f"{args.wnid}: no changes yet")
    for e in events.iter_rows(named=True):
        change = one_line(f"{e['source_before'] or '-'} -> {e['source_after'] or '-'}")
        print(
            f"event {e['event_id']}  rev {e['revision_after']}  {e['at_time']:%Y-%m-%d %H:%M:%S}  "
            f"{one_line(e['actor'])}  {e['action']}  {change}"
            + (f"  (reverts {e['reverts_event_id']})" if e["reverts_event_id"] else "")
        )
        if args.diff:
            print(desc.compute_description_diff(e["text_before"], e["text_after"]))
    return 0


def _revert(con, args: argparse.Namespace) -> int:
    change = desc.revert_description_event(con, args.event_id, actor=resolve_actor(args.actor))
    print(change.describe())
    return 0


def _read_text_file(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text") from exc


_HANDLERS = {
    "import-builtin": _import_builtin,
    "import-wikipedia": _import_wikipedia,
    "use-source": _use_source,
    "set": _set,
    "pick": _pick,
    "show": _show,
    "history": _history,
    "revert": _revert,
}
