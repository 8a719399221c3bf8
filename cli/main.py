"""`workbench` command line: every job the pages run can run headless too.

Each subcommand lives in its own module exposing `add_parser(subparsers)`; the parser's
`handler(args) -> int` does the work by calling the same library functions as the pages.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Modules under cli/ that contribute subcommands, in --help order.
SUBCOMMAND_MODULES = (
    "cli.setup",
    "cli.jobs",
    "cli.descriptions",
    "cli.relevance",
    "cli.captions",
    "cli.evaluate",
    "cli.extension",
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        # Expected user errors: one clear line, no traceback.
        print(f"workbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`workbench ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
