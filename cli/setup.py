"""`workbench build-demo` and `workbench run`: the embedded default database and the app.

`workbench run` opens the database first (a file held by another process stops it at once,
naming that process), then serves the app from a child process (`python -m ui.launch`) that
holds the database for as long as it runs. SIGTERM, SIGINT and SIGHUP sent to `workbench run`
are forwarded to the child, which is killed if it has not stopped `STOP_TIMEOUT_S` later;
on Linux the child also gets SIGTERM from the kernel if `workbench run` dies without a
chance to forward anything (SIGKILL). So the server is never left behind.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cli.common import add_command, open_database, print_progress
from db.connect import DB_ENV_VAR, resolve_db_path

REPO_ROOT = Path(__file__).resolve().parents[1]
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STOP_TIMEOUT_S = 15.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    add_command(
        subparsers,
        "build-demo",
        "build the embedded default database (catalog, descriptions, texts)",
        handle_build_demo,
    )

    run = add_command(
        subparsers, "run", "build the default database if needed, start the app", handle_run
    )
    run.add_argument("--port", type=int, default=8501)
    run.add_argument("--headless", action="store_true", help="do not open a browser")
    run.add_argument(
        "--auth-config",
        default=None,
        metavar="FILE",
        help="team mode: a secrets TOML file with [auth] (an OpenID Connect provider) and "
        "[workbench] (first admins, invite_only); default: .streamlit/secrets.toml if it has "
        "[auth], else local single-user mode",
    )
    run.add_argument(
        "--debug",
        action="store_true",
        help="show full error details (tracebacks) in the browser; same as $WORKBENCH_DEBUG=1",
    )


def handle_build_demo(args: argparse.Namespace) -> int:
    from curation.demo import build_demo_database

    with open_database(args.db, create=True) as con:  # building a database creates it
        summary = build_demo_database(con, progress=print_progress)
    print(f"Built {resolve_db_path(args.db)}: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    return 0


def handle_run(args: argparse.Namespace) -> int:
    db_path = resolve_db_path(args.db)
    from curation.demo import is_demo_built

    # The default database is created (and built) on first run; a --db / $WORKBENCH_DB file
    # that does not exist needs --create. Held by another process: one line, exit code 2.
    create = getattr(args, "create", False) or not (args.db or os.environ.get(DB_ENV_VAR))
    with open_database(db_path, create=create) as con:
        built = is_demo_built(con)
    auth_file = resolve_auth_config(getattr(args, "auth_config", None), port=args.port)
    if not built:
        handle_build_demo(argparse.Namespace(db=str(db_path)))
    env = {**os.environ, DB_ENV_VAR: str(db_path.resolve())}
    if getattr(args, "debug", False):
        env["WORKBENCH_DEBUG"] = "1"
    mode = f"team mode, sign-in by {auth_file}" if auth_file else "local single-user mode"
    print(f"Workbench on http://localhost:{args.port}  (database {db_path}; {mode})", flush=True)
    command = compute_server_command(args.port, headless=args.headless, auth_file=auth_file)
    return serve(command, env=env)


def resolve_auth_config(path: str | None, *, port: int) -> Path | None:
    """The team-mode configuration to serve with, checked (None: local single-user mode).

    `path`, else `.streamlit/secrets.toml` when it has an [auth] section. A provider that
    does not answer now is a warning (it may come back; the sign-in page says so).

    Raises:
        ValueError, FileNotFoundError: a misconfiguration, in one line.
    """
    from curation.auth_config import check_provider, load_auth_config

    if path is None:
        default = REPO_ROOT / ".streamlit" / "secrets.toml"
        if not default.is_file() or "[auth" not in default.read_text(encoding="utf-8"):
            return None
        path = str(default)
    config = load_auth_config(path, port=port)
    problem = check_provider(str(config["auth"]["server_metadata_url"]), timeout_s=5.0)
    if problem:
        print(f"workbench run: warning: {problem}; sign-in waits for it", file=sys.stderr)
    return Path(path).expanduser().resolve()


def compute_server_command(
    port: int, *, headless: bool, auth_file: Path | None = None
) -> list[str]:
    """The child's command line: the launcher on localhost only (with the team-mode secrets
    file as Streamlit's only secrets file when given)."""
    command = [
        sys.executable,
        "-m",
        "ui.launch",
        "--server.port",
        str(port),
        "--server.address",
        "localhost",
        "--browser.gatherUsageStats",
        "false",
    ]
    if auth_file is not None:
        command += ["--secrets.files", str(auth_file)]
    return command + (["--server.headless", "true"] if headless else [])


def serve(command: list[str], *, env: dict[str, str]) -> int:
    """Run the server as a child until it exits; forward stop signals; never leave it behind.

    Returns:
        The child's exit code.
    """
    # Same process group: Ctrl-C in a terminal reaches the child as well (a second SIGINT
    # from `forward` is harmless), and the child may still prompt on the terminal.
    child = subprocess.Popen(command, env=env, cwd=REPO_ROOT, preexec_fn=_make_die_with_parent())
    stop_by: list[float] = []

    def forward(signum, _frame) -> None:
        if child.poll() is None:
            child.send_signal(signum)
        stop_by.append(time.monotonic() + STOP_TIMEOUT_S)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}
    try:
        while True:
            try:
                return child.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if stop_by and time.monotonic() > stop_by[0]:
                    child.kill()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:  # an exception here (not a signal): stop the child too
            child.terminate()
            try:
                child.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _make_die_with_parent():
    """A function for the child to run before exec: on Linux, ask the kernel for SIGTERM when
    the parent dies (even by SIGKILL). Resolved here, so the child only calls into libc."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def die_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return die_with_parent
