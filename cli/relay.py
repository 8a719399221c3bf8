"""The command line beside the open app: while `workbench run` holds a database, a
`workbench` command for that database runs inside the app's process instead of failing on
the file lock, and prints its output and progress here as it comes.

Why this mechanism: DuckDB lets one process hold a database file, and the app holds it for
its lifetime. The app listens on a Unix socket in a folder only its user can open
(`$TMPDIR/workbench-<uid>/`, mode 0700; the socket 0600), named by a hash of the database
path; the kernel's file permissions are the authentication, the same rule that already
decides who may open the database file. A browser cannot reach a Unix socket, so no web
page can drive it (a 127.0.0.1 HTTP endpoint would need its own token and origin checks).

The request is one JSON line, the command's arguments; the answer is JSON lines of output
({"stream": "out"|"err", "text": ...}) and a last {"exit": code}. The command runs as the
local admin (as any command line does), with the app's database connection and storage
root: `--db` must be the app's file, and `--create` / `--storage` are refused.

Output of a relayed command goes to its own socket only (`RoutedStream` sends each thread's
writes to that thread's target), so commands relayed at the same time, and the app's own
output, do not mix.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import socket
import socketserver
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from cli.common import escape_terminal

MAX_REQUEST_BYTES = 1 << 20  # the arguments of one command
RelayedCommand = Callable[[list[str]], int]


def compute_socket_path(db_path: str | Path) -> Path:
    """Where the app holding `db_path` listens: a private folder under the temp folder, a
    name from the resolved path (a Unix socket path must stay under 108 bytes)."""
    digest = hashlib.sha256(str(Path(db_path).resolve()).encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / f"workbench-{os.getuid()}" / f"{digest}.sock"


def _private_folder(folder: Path) -> Path:
    """`folder`, created 0700; refused when another user owns it or others may enter it."""
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RuntimeError(
            f"{folder} is not a private folder of this user: the command line relay is off."
        )
    return folder


class RoutedStream:
    """A stand-in for sys.stdout / sys.stderr that sends each thread's writes to the target
    that thread set (`routed`), and everything else to the original stream."""

    def __init__(self, original):
        self.original = original
        self._local = threading.local()

    def _target(self):
        """This thread's target, or None (then the original stream)."""
        return getattr(self._local, "target", None)

    @property
    def terminal(self):
        """Where the progress bar writes its own `\\r` (`cli.common.print_progress`)."""
        target = self._target()
        return target if target is not None else getattr(self.original, "terminal", self.original)

    def write(self, text: str) -> int:
        return (self._target() or self.original).write(text)

    def flush(self) -> None:
        (self._target() or self.original).flush()

    def __getattr__(self, name: str):
        return getattr(self.original, name)

    @contextlib.contextmanager
    def routed(self, target) -> Iterator[None]:
        """Send this thread's writes to `target` for a block."""
        self._local.target = target
        try:
            yield
        finally:
            self._local.target = None


class _SocketWriter:
    """A text stream whose writes become {"stream": name, "text": ...} lines on a socket."""

    def __init__(self, wfile, name: str, lock: threading.Lock):
        self._wfile, self._name, self._lock = wfile, name, lock

    def write(self, text: str) -> int:
        if text:
            _send(self._wfile, {"stream": self._name, "text": text}, self._lock)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _send(wfile, message: dict, lock: threading.Lock) -> None:
    with lock:
        wfile.write((json.dumps(message) + "\n").encode())
        wfile.flush()


def _install_routing() -> tuple[RoutedStream, RoutedStream]:
    """Route sys.stdout and sys.stderr per thread (once per process)."""
    if not isinstance(sys.stdout, RoutedStream):
        sys.stdout = RoutedStream(sys.stdout)
    if not isinstance(sys.stderr, RoutedStream):
        sys.stderr = RoutedStream(sys.stderr)
    return sys.stdout, sys.stderr


def _parse_request(line: bytes) -> list[str]:
    """The command's arguments from one request line (a JSON list of strings)."""
    request = json.loads(line.decode("utf-8"))
    argv = request.get("argv") if isinstance(request, dict) else None
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise ValueError("a relay request is {'argv': [strings]}")
    return argv


def start_relay(db_path: str | Path, run_command: RelayedCommand) -> Path | None:
    """Serve relayed commands for `db_path` in this process (the app) until it exits.

    Args:
        run_command: argv -> exit code, run in a thread of this process with its output
            routed to the caller (`cli.main.run_relayed`).

    Returns:
        The socket path, or None (after one line on stderr) when it cannot listen.
    """
    path = compute_socket_path(db_path)
    try:
        _private_folder(path.parent)
        path.unlink(missing_ok=True)  # left by a killed app: this process holds the database
        out, err = _install_routing()
        server = _make_server(path, run_command, out, err)
    except (OSError, RuntimeError) as exc:
        print(f"workbench run: the command line relay is off: {exc}", file=sys.stderr)
        return None
    os.chmod(path, 0o600)
    threading.Thread(target=server.serve_forever, name="cli-relay", daemon=True).start()
    atexit.register(lambda: path.unlink(missing_ok=True))
    return path


def _make_server(path: Path, run_command: RelayedCommand, out, err):
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            lock = threading.Lock()
            stdout = _SocketWriter(self.wfile, "out", lock)
            stderr = _SocketWriter(self.wfile, "err", lock)
            try:
                argv = _parse_request(self.rfile.readline(MAX_REQUEST_BYTES))
            except (ValueError, UnicodeDecodeError) as exc:
                stderr.write(f"workbench: error: bad relay request: {exc}\n")
                _send(self.wfile, {"exit": 2}, lock)
                return
            try:
                with out.routed(stdout), err.routed(stderr):
                    code = run_command(argv)
            except (BrokenPipeError, ConnectionResetError):
                return  # the command line went away; the command stopped where it was
            _send(self.wfile, {"exit": int(code)}, lock)

    class Server(socketserver.ThreadingUnixStreamServer):
        daemon_threads = True

    return Server(str(path), Handler)


def relay_to_open_app(db_path: str | Path, argv: list[str]) -> int | None:
    """Run `argv` in the app that holds `db_path`, printing its output here as it comes.

    Returns:
        The command's exit code, or None when no app listens for this database (then the
        command runs in this process as usual).
    """
    path = compute_socket_path(db_path)
    if not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        return None  # a socket a killed app left: nobody listens
    with conn, conn.makefile("rwb") as stream:
        stream.write((json.dumps({"argv": argv}) + "\n").encode())
        stream.flush()
        for line in stream:
            message = json.loads(line)
            if "exit" in message:
                return int(message["exit"])
            _show(message.get("stream"), str(message.get("text", "")))
    print("workbench: error: the app stopped before the command finished.", file=sys.stderr)
    return 2


def _show(stream_name: str | None, text: str) -> None:
    """Write relayed text to this terminal with its control characters escaped, except the
    progress bar's carriage returns."""
    stream = sys.stderr if stream_name == "err" else sys.stdout
    terminal = getattr(stream, "terminal", stream)
    terminal.write("\r".join(escape_terminal(part) for part in text.split("\r")))
    terminal.flush()
