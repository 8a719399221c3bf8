"""`workbench` command line: every job the pages run can run headless too.

Each subcommand lives in its own module exposing `add_parser(subparsers)`; the parser's
`handler(args) -> int` does the work by calling the same library functions as the pages.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from cli import relay
from cli.common import (
    apply_database_options,
    end_progress_line,
    is_relayed,
    relayed_command,
    with_safe_output,
)
from curation import access
from db.connect import resolve_db_path

# Modules under cli/ that contribute subcommands, in --help order.
SUBCOMMAND_MODULES = (
    "cli.setup",
    "cli.jobs",
    "cli.users",
    "cli.descriptions",
    "cli.relevance",
    "cli.captions",
    "cli.explore",
    "cli.evaluate",
    "cli.extension",
)


# What a user can cause and fix: bad values and files, missing or unreadable paths, a database
# held by another process or too new (RuntimeError). Anything else is a bug: a traceback.
USER_ERRORS = (
    ValueError,
    RuntimeError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="ImageNet curation workbench: caption metadata cleaning and text-only "
        "class extension. Run `workbench run` for the web app.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


@with_safe_output
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "run":
        relayed = relay.relay_to_open_app(resolve_db_path(args.db).absolute(), argv)
        if relayed is not None:  # the app holds this database: the command ran there
            return relayed
    apply_database_options(args)
    return _run_parsed(args)


def run_relayed(db_path: Path, argv: list[str]) -> int:
    """Run a command line in the app that holds `db_path` (`cli.relay`): on its database,
    as the local admin, never a second app, a new database or another storage root."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse said why on (routed) stderr
        return int(exc.code or 0)
    refusal = _relay_refusal(args, db_path)
    if refusal:
        print(f"workbench {args.command}: error: {refusal}", file=sys.stderr)
        return 2
    args.db = str(db_path)
    with relayed_command():
        return _run_parsed(args)


def _relay_refusal(args: argparse.Namespace, db_path: Path) -> str | None:
    """Why a relayed command may not run in the app (None: it may)."""
    if args.command == "run":
        return f"the app is already running on {db_path}."
    if getattr(args, "create", False) or getattr(args, "storage", None):
        return "--create and --storage are not taken while the app holds the database."
    if args.db and resolve_db_path(args.db).resolve() != db_path.resolve():
        return f"this app holds {db_path}, not {args.db}."
    return None


def _run_parsed(args: argparse.Namespace) -> int:
    """Run a parsed command; a user error is one line on stderr and exit code 2."""
    try:
        # The command line is the local admin: whoever runs it holds the database file.
        with access.using_policy(access.LOCAL):
            return int(args.handler(args) or 0)
    except BrokenPipeError:
        # The reader went away (`workbench ... | head`): stop quietly, as Unix tools do.
        if not is_relayed():
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except USER_ERRORS as exc:
        # Expected user errors (a bad file, a bad option, a held database): one line, no
        # traceback. Library messages name the file and what is wrong.
        end_progress_line()
        print(f"workbench {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    """The message on one line (a multi-line message from a library is joined)."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


if __name__ == "__main__":
    sys.exit(main())
