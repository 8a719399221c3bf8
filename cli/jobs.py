"""`workbench jobs`: list background jobs, and run queued ones headless."""

from __future__ import annotations

import argparse

from cli.common import add_db_option
from db import jobs as job_db
from db.connect import connect
from jobs.worker import run_queued_jobs


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("jobs", help="list background jobs or run queued ones")
    add_db_option(parser)
    parser.add_argument("action", choices=["list", "run-queued"])
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    con = connect(args.db)
    try:
        if args.action == "run-queued":
            print(f"ran {run_queued_jobs(con)} job(s)")
        else:
            frame = job_db.list_jobs(con).select(
                "job_id", "kind", "status", "progress", "message", "error"
            )
            print(frame)
    finally:
        con.close()
    return 0
