"""`workbench` command line: every job the pages run can run headless too.

Each subcommand lives in its own module exposing `add_parser(subparsers)`; the parser's
`handler(args) -> int` does the work by calling the same library functions as the pages.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from cli.common import apply_database_options, end_progress_line, with_safe_output
from curation import access

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
    parser = build_parser()
    args = parser.parse_args(argv)
    apply_database_options(args)
    try:
        # The command line is the local admin: whoever runs it holds the database file.
        with access.using_policy(access.LOCAL):
            return int(args.handler(args) or 0)
    except BrokenPipeError:
        # The reader went away (`workbench ... | head`): stop quietly, as Unix tools do.
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
