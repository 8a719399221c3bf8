"""`workbench jobs`: list background jobs, and run queued ones headless."""

from __future__ import annotations

import argparse
import json

from cli.common import add_command, open_database
from db import jobs as job_db


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "jobs", "list background jobs or run queued ones", handle)
    parser.add_argument("action", choices=["list", "run-queued"])
    parser.add_argument("--json", action="store_true", help="list: one JSON list on stdout")


def handle(args: argparse.Namespace) -> int:
    with open_database(args.db) as con:
        if args.action == "run-queued":
            from jobs.worker import run_queued_jobs

            job_db.fail_interrupted_jobs(con, include_queued=False)
            print(f"ran {run_queued_jobs(con)} job(s)")
        else:
            # As the app does at its start: what a process that ended left running or queued
            # reads as failed ('Interrupted: ...'), not as still queued or running.
            job_db.fail_interrupted_jobs(con, include_queued=True)
            frame = job_db.list_jobs(con).select(
                "job_id", "kind", "status", "created_by", "progress", "message", "error"
            )
            print(json.dumps(frame.to_dicts()) if args.json else frame)
    return 0
