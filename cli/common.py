"""Options and helpers shared by subcommands.

Terminal output: data and user text (descriptions, curator names, job messages, captions)
reach the terminal only through `with_safe_output`, which wraps stdout and stderr for the
whole command, so an ANSI/OSC escape, a carriage return or a bidi override in any printed
text shows as `\x1b`, `\r`, `\u202e` instead of acting on the terminal (setting its title,
clearing the screen, overwriting a line). Fields printed inside one line (a name, a source)
go through `one_line`, which escapes line breaks too, so they cannot forge a line.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import duckdb

from contract.devices import DEVICES
from contract.specs import JsonSpec, get_spec_default
from contract.storage import STORAGE_ENV_VAR
from db.connect import DB_ENV_VAR, DEFAULT_DB_PATH, connect

# Set from the parsed command line by `apply_database_options` (one command per process).
_create_database = False
# C0 controls but tab and newline, DEL, C1 controls, line/paragraph separators, bidi
# embeddings, overrides and isolates.
_TERMINAL_CONTROLS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_LINE_BREAKS = re.compile("[\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def escape_terminal(text: str) -> str:
    """`text` with every character that acts on a terminal written as its escape (`\x1b`)."""
    return _TERMINAL_CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


def one_line(text: object) -> str:
    """A field shown inside one line: line breaks escaped too (as `\n`)."""
    text = _LINE_BREAKS.sub(lambda m: m.group().encode("unicode_escape").decode(), str(text))
    return escape_terminal(text)


class _SafeTerminal:
    """A text stream that escapes terminal controls in everything written to it; the
    stream itself stays reachable as `.terminal` (for the progress bar's own `\r`)."""

    def __init__(self, stream):
        self.terminal = stream

    def write(self, text: str) -> int:
        return self.terminal.write(escape_terminal(text))

    def __getattr__(self, name: str):
        return getattr(self.terminal, name)


def with_safe_output(command: Callable[..., int]) -> Callable[..., int]:
    """Run `command` with stdout and stderr escaping terminal controls (restored after)."""

    @functools.wraps(command)
    def run(*args, **kwargs) -> int:
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _SafeTerminal(sys.stdout), _SafeTerminal(sys.stderr)
        try:
            return command(*args, **kwargs)
        finally:
            sys.stdout, sys.stderr = saved

    return run


def add_db_option(parser: argparse.ArgumentParser) -> None:
    """--db, --create and --storage: which database, and where its files go."""
    parser.add_argument(
        "--db",
        default=None,
        help=f"DuckDB file (default: ${DB_ENV_VAR} or {DEFAULT_DB_PATH})",
    )
    parser.add_argument(
        "--create",
        action="store_true",
        help="start a new database when the --db file does not exist (else refused)",
    )
    parser.add_argument(
        "--storage",
        default=None,
        help=f"storage root for every file the workbench writes (default: ${STORAGE_ENV_VAR}, "
        "else <db folder>/<db name>-files)",
    )


def apply_database_options(args: argparse.Namespace) -> None:
    """Make --create and --storage hold for this command (`open_database`, and the app that
    `workbench run` starts: --storage is passed on as $WORKBENCH_STORAGE)."""
    global _create_database
    _create_database = bool(getattr(args, "create", False))
    if getattr(args, "storage", None):
        os.environ[STORAGE_ENV_VAR] = str(Path(args.storage).expanduser().absolute())


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    help_text: str,
    handler: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """The subcommand `name` with the --db option, run by `handler(args)` (its exit code)."""
    parser = subparsers.add_parser(name, help=help_text)
    add_db_option(parser)
    parser.set_defaults(handler=handler)
    return parser


def add_actor_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--actor", default=None, help="name recorded in history (default: $USER)")


def add_spec_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    flag: str,
    spec_class: type[JsonSpec],
    field_name: str,
    help_text: str = "",
    **kwargs,
) -> None:
    """An option whose default (and type) is the spec field's own, named in its help: the
    spec is the single source of every default the CLI shows (`get_spec_default`)."""
    default = get_spec_default(spec_class, field_name)
    if isinstance(default, int | float) and not isinstance(default, bool):
        kwargs.setdefault("type", type(default))
    shown = repr(default) if default == "" else default
    help_text = f"{help_text} (default: {shown})" if help_text else f"default: {shown}"
    parser.add_argument(flag, default=default, help=help_text.replace("%", "%%"), **kwargs)


def add_device_option(parser: argparse.ArgumentParser, spec_class: type[JsonSpec]) -> None:
    """--device of a job spec with a `device` field (choices `contract.devices.DEVICES`)."""
    add_spec_option(parser, "--device", spec_class, "device", "where it runs", choices=DEVICES)


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """--engine and the Ray options of a job that can run on a Ray cluster (`scale`); the
    defaults are `scale.specs.EngineSpec`'s and `ActorPoolSpec`'s."""
    from scale.specs import ENGINES, ActorPoolSpec, EngineSpec

    group = parser.add_argument_group("engine (batch work on a Ray cluster)")
    add_spec_option(
        group,
        "--engine",
        EngineSpec,
        "name",
        "local: this process; ray: a pool of model actors (needs pip install '.[scale]')",
        choices=ENGINES,
    )
    add_spec_option(
        group,
        "--ray-address",
        EngineSpec,
        "address",
        "'': start a local Ray instance; 'auto', HOST:PORT or ray://HOST:PORT: an existing "
        "cluster (the cache folder must be a path every node can read)",
    )
    add_spec_option(group, "--ray-actors", ActorPoolSpec, "actors", "model actors")
    add_spec_option(
        group, "--ray-cpus-per-actor", ActorPoolSpec, "cpus_per_actor", "CPUs per actor"
    )
    group.add_argument(
        "--ray-gpus-per-actor",
        type=float,
        default=get_spec_default(ActorPoolSpec, "gpus_per_actor"),
        help="GPUs per actor (default: 1 when the cluster has GPUs and --device is not cpu)",
    )


def engine_fields(args: argparse.Namespace) -> dict:
    """The spec field of `add_engine_options`: {'engine': EngineSpec}."""
    from scale.specs import ActorPoolSpec, EngineSpec

    pool = ActorPoolSpec(
        actors=args.ray_actors,
        cpus_per_actor=args.ray_cpus_per_actor,
        gpus_per_actor=args.ray_gpus_per_actor,
    )
    return {"engine": EngineSpec(name=args.engine, address=args.ray_address, pool=pool)}


def resolve_actor(actor: str | None) -> str:
    """The name to record for an edit: the option, else the login name."""
    if actor:
        return actor
    try:
        return getpass.getuser()
    except Exception:
        return "cli"


_bar_is_open = False  # a bar is drawn and its line not ended yet


def print_progress(fraction: float, message: str = "") -> None:
    """A `progress(fraction, message)` callable that draws a one-line bar on stderr."""
    global _bar_is_open
    width = 30
    filled = int(round(fraction * width))
    # Messages quote data (file names): no control characters reach the terminal.
    shown = "".join(c if c.isprintable() else "?" for c in message[:60])
    terminal = getattr(sys.stderr, "terminal", sys.stderr)  # the bar's own \r is wanted
    terminal.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction:6.1%} {shown:<60}")
    _bar_is_open = fraction < 1.0
    if not _bar_is_open:
        terminal.write("\n")
    terminal.flush()


def end_progress_line() -> None:
    """End a bar's line (before an error message), so the message starts on its own line."""
    global _bar_is_open
    if _bar_is_open:
        sys.stderr.write("\n")
        _bar_is_open = False


_relayed: ContextVar[bool] = ContextVar("relayed", default=False)


@contextmanager
def relayed_command() -> Iterator[None]:
    """Mark a block as a command the app runs for the command line (`cli.relay`)."""
    token = _relayed.set(True)
    try:
        yield
    finally:
        _relayed.reset(token)


def is_relayed() -> bool:
    """Whether this command runs inside the app that holds the database."""
    return _relayed.get()


def _record_interrupted_work(con: duckdb.DuckDBPyConnection) -> None:
    """Say in the table what a killed process left: its training runs 'stopped' (resumable),
    not 'training'. This process holds the file, so no other process trains. (Jobs a killed
    process left are recorded by `workbench jobs list`, as the app does at its start; until
    then a running one reads 'interrupted' from its worker's heartbeat.)"""
    from db import relevance as relevance_db

    relevance_db.stop_interrupted_runs(con)


def _adopt_legacy_cache(con: duckdb.DuckDBPyConnection) -> None:
    """Move a `.cache/` of older versions into the storage root, saying so on stderr."""
    from contract.storage import adopt_legacy_cache
    from db.sql import get_database_path
    from db.storage import get_storage

    db_path = get_database_path(con)
    note = adopt_legacy_cache(get_storage(con), db_path) if db_path else None
    if note:
        print(note, file=sys.stderr)


@contextmanager
def open_database(
    path: str | Path | None, *, create: bool | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The migrated database of `--db` (or the default) for one command; closed afterwards.

    A file that does not exist is refused unless `--create` was given (or `create=True`).
    """
    con = connect(path, create=_create_database if create is None else create)
    if not is_relayed():  # in the app, its own runs are alive, not left by a killed process
        _record_interrupted_work(con)
    _adopt_legacy_cache(con)
    try:
        yield con
    finally:
        con.close()
