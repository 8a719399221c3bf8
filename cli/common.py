"""Options and helpers shared by subcommands."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from db.connect import DB_ENV_VAR, DEFAULT_DB_PATH, connect


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=None,
        help=f"DuckDB file (default: ${DB_ENV_VAR} or {DEFAULT_DB_PATH})",
    )


def add_actor_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--actor", default=None, help="name recorded in history (default: $USER)")


def resolve_actor(actor: str | None) -> str:
    """The name to record for an edit: the option, else the login name."""
    if actor:
        return actor
    try:
        return getpass.getuser()
    except Exception:
        return "cli"


def print_progress(fraction: float, message: str = "") -> None:
    """A `progress(fraction, message)` callable that draws a one-line bar on stderr."""
    width = 30
    filled = int(round(fraction * width))
    sys.stderr.write(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction:6.1%} {message[:60]:<60}"
    )
    if fraction >= 1.0:
        sys.stderr.write("\n")
    sys.stderr.flush()


@contextmanager
def open_database(path: str | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The migrated database of `--db` (or the default) for one command; closed afterwards."""
    con = connect(path)
    try:
        yield con
    finally:
        con.close()
