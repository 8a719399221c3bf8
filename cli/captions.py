"""`workbench ingest-captions FILE`: import an ImageNet-Captions JSON file, print the report."""

from __future__ import annotations

import argparse

from cli.common import add_db_option, open_database, print_progress
from curation.captions import DEFAULT_SOURCE, format_ingest_report, ingest_caption_file
from db.connect import resolve_db_path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ingest-captions",
        help="import the official ImageNet-Captions JSON (or a file of the same shape)",
        description="Validate and store a JSON list of {filename, wnid, title, description, "
        "tags} records. Bad records are reported (index, field, reason) and not stored; "
        "records of wnids outside the catalog are counted and not stored; re-importing the "
        "same file changes nothing. All or nothing: one transaction.",
    )
    parser.add_argument("file", help="path of the JSON file (e.g. imagenet_captions.json)")
    add_db_option(parser)
    parser.add_argument(
        "--source",
        default=DEFAULT_SOURCE,
        help=f"source name the records are stored under (default: {DEFAULT_SOURCE})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    with open_database(args.db) as con:
        report = ingest_caption_file(
            con, args.file, source=args.source, progress=None if args.quiet else print_progress
        )
    print(format_ingest_report(report))
    print(f"Database: {resolve_db_path(args.db)}")
    return 0
