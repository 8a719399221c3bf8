"""`workbench build-demo` and `workbench run`: the embedded default database and the app."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from cli.common import add_db_option, open_database, print_progress
from db.connect import DB_ENV_VAR, resolve_db_path

REPO_ROOT = Path(__file__).resolve().parents[1]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    build = subparsers.add_parser(
        "build-demo", help="build the embedded default database (catalog, descriptions, texts)"
    )
    add_db_option(build)
    build.set_defaults(handler=handle_build_demo)

    run = subparsers.add_parser("run", help="build the default database if needed, start the app")
    add_db_option(run)
    run.add_argument("--port", type=int, default=8501)
    run.add_argument("--headless", action="store_true", help="do not open a browser")
    run.set_defaults(handler=handle_run)


def handle_build_demo(args: argparse.Namespace) -> int:
    from curation.demo import build_demo_database

    with open_database(args.db) as con:
        summary = build_demo_database(con, progress=print_progress)
    print(f"Built {resolve_db_path(args.db)}: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    return 0


def handle_run(args: argparse.Namespace) -> int:
    db_path = resolve_db_path(args.db)
    from curation.demo import is_demo_built

    with open_database(db_path) as con:
        built = is_demo_built(con)
    if not built:
        handle_build_demo(argparse.Namespace(db=str(db_path)))
    env = {**os.environ, DB_ENV_VAR: str(db_path.resolve())}
    command = [
        sys.executable,
        "-m",
        "ui.launch",
        "--server.port",
        str(args.port),
        "--server.address",
        "localhost",
        "--browser.gatherUsageStats",
        "false",
    ]
    if args.headless:
        command += ["--server.headless", "true"]
    print(f"Workbench on http://localhost:{args.port}  (database {db_path})")
    return subprocess.call(command, env=env, cwd=REPO_ROOT)
