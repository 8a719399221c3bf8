"""Findings 5, 6 and 7 (server part) of issue 10, on a real `workbench run`.

5. Lazy lock: the app opened the database only on the first page view, so right after
   `workbench run` a CLI write succeeded and the next page view failed. Now the server
   process holds the database from its start; a CLI then fails naming the server's PID, and
   `workbench run` on a database another process holds fails fast with one line.
6. Orphaned server: ending `workbench run` by its PID left the Streamlit child serving and
   holding the lock. Now signals are forwarded, and on Linux the child dies with its parent.
7. Host header: a DNS-rebinding request (Host and Origin set to another name) was accepted.
   Now HTTP requests and WebSocket handshakes with a foreign Host get 403. Upload size and
   error details are set in `.streamlit/config.toml` (checked as Streamlit reads it).

Issue 23, finding 8: a page served from another local port (Origin http://127.0.0.1:8710)
drove the app's WebSocket and read its text. Now a handshake or request whose Origin is not
the app's own (scheme, host and port) gets 403.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from curation.catalog import seed_imagenet1k
from curation.imagenet_x import ingest_imagenet_x
from db.connect import DatabaseLockedError, connect
from tests.conftest import REPO_ROOT
from ui.launch import (
    compute_allowed_hosts,
    compute_streamlit_argv,
    is_allowed_host,
    is_own_origin,
)

WORKBENCH = Path(sys.executable).parent / "workbench"
START_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _make_demo_database(path: Path) -> Path:
    """A database `workbench run` takes as built (catalog + a few ImageNet-X captions)."""
    con = connect(path)
    seed_imagenet1k(con)
    ingest_imagenet_x(con, splits=("val",), limit=5)
    con.close()
    return path


class RunningWorkbench:
    """`workbench run --headless` on a free port, its log, and its server child."""

    def __init__(self, db_path: Path, log_path: Path):
        self.db_path, self.log_path, self.port = db_path, log_path, _free_port()
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [str(WORKBENCH), "run", "--db", str(db_path), "--port", str(self.port), "--headless"],
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_until_serving(self) -> int:
        """The server child's PID, once it answers its health check."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"workbench run exited:\n{self.log()}"
            try:
                with urllib.request.urlopen(self.url("/_stcore/health"), timeout=2) as answer:
                    if answer.status == 200:
                        return self.child_pid()
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"no answer within {START_TIMEOUT_S} s:\n{self.log()}")

    def url(self, path: str) -> str:
        return f"http://localhost:{self.port}{path}"

    def child_pid(self) -> int:
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()


def _is_running(pid: int) -> bool:
    """Alive and not a zombie (a zombie holds no lock and serves nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait_gone(pid: int, timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _is_running(pid):
            return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    app = RunningWorkbench(_make_demo_database(folder / "w.duckdb"), folder / "run.log")
    try:
        child = app.wait_until_serving()
        yield app, child
    finally:
        app.stop()


def test_the_server_holds_the_database_from_its_start(served, capsys):
    app, child = served
    # No page was viewed yet: the lock must already be held, by the server child.
    with pytest.raises(DatabaseLockedError) as info:
        connect(app.db_path)
    assert info.value.pid == child
    from cli.main import main as workbench

    assert info.value.pid == child and "ui.launch" in str(info.value)
    # The command line runs inside the app from its first second too (`cli.relay`).
    assert workbench(["jobs", "list", "--db", str(app.db_path)]) == 0
    assert "job_id" in capsys.readouterr().out


def test_workbench_run_on_a_database_held_elsewhere_fails_fast_naming_the_holder(tmp_path):
    db_path = _make_demo_database(tmp_path / "held.duckdb")
    code = "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('open', flush=True); "
    holder = subprocess.Popen(
        [sys.executable, "-c", code + "sys.stdin.read()", str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        started = time.monotonic()
        done = subprocess.run(
            [str(WORKBENCH), "run", "--db", str(db_path), "--port", str(_free_port())],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and f"PID {holder.pid}" in lines[0], lines
        assert time.monotonic() - started < 30
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.mark.parametrize(
    "how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda sig: sig.name
)
def test_ending_workbench_run_by_its_pid_leaves_no_server_behind(tmp_path, how):
    app = RunningWorkbench(_make_demo_database(tmp_path / "w.duckdb"), tmp_path / "run.log")
    child = None
    try:
        child = app.wait_until_serving()
        os.kill(app.process.pid, how)
        app.process.wait(timeout=60)
        assert _wait_gone(child), f"the server child {child} is still running:\n{app.log()}"
        connect(app.db_path).close()  # the lock went with it
    finally:
        app.stop()
        if child is not None and _is_running(child):
            os.kill(child, signal.SIGKILL)  # never leave it behind, even when the test fails


def _http_status(
    port: int, host_header: str, *, websocket: bool, origin: str | None, method: str = "GET"
) -> int:
    connection = http.client.HTTPConnection("localhost", port, timeout=10)
    headers = {"Host": host_header}
    if origin:
        headers["Origin"] = origin
    path = "/"
    if websocket:
        path = "/_stcore/stream"
        headers |= {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        }
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize("websocket", [False, True], ids=["http", "websocket"])
def test_a_request_with_a_foreign_host_is_refused(served, websocket):
    app, _ = served
    port = app.port
    ok = _http_status(port, f"localhost:{port}", websocket=websocket, origin=None)
    assert ok == (101 if websocket else 200)
    for host in (f"evil.example:{port}", "evil.example", f"localhost.evil.example:{port}"):
        origin = f"http://{host}"
        assert _http_status(port, host, websocket=websocket, origin=origin) == 403, host
        assert _http_status(port, host, websocket=websocket, origin=None) == 403, host
    assert _http_status(port, f"127.0.0.1:{port}", websocket=websocket, origin=None) == ok


@pytest.mark.parametrize("websocket", [False, True], ids=["http", "websocket"])
def test_a_request_from_a_page_of_another_origin_is_refused(served, websocket):
    app, _ = served
    port = app.port
    ok = 101 if websocket else 200
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        assert _http_status(port, host, websocket=websocket, origin=f"http://{host}") == ok
    foreign = [
        "http://127.0.0.1:8710",
        "http://localhost:9999",
        f"https://localhost:{port}",  # another scheme is another origin
        f"http://127.0.0.1:{port}",  # another host name than the one the app is open at
        "null",
    ]
    for origin in foreign:
        status = _http_status(port, f"localhost:{port}", websocket=websocket, origin=origin)
        assert status == 403, origin
    if not websocket:  # a state-changing request too
        post = _http_status(
            port,
            f"localhost:{port}",
            websocket=False,
            origin="http://localhost:9999",
            method="POST",
        )
        assert post == 403


def test_own_origin_means_the_same_scheme_host_and_port():
    assert is_own_origin("http://localhost:8612", "localhost:8612", "ws")
    assert is_own_origin("http://[::1]:8612", "[::1]:8612", "http")
    assert is_own_origin("https://wb.example.org", "wb.example.org", "wss")
    assert is_own_origin("http://localhost:80", "localhost", "http")
    assert not is_own_origin("http://localhost:8710", "localhost:8612", "ws")
    assert not is_own_origin("https://localhost:8612", "localhost:8612", "ws")
    assert not is_own_origin("http://evil.example:8612", "localhost:8612", "http")
    assert not is_own_origin("http://localhost:8612.evil", "localhost:8612", "http")
    assert not is_own_origin("http://user@localhost:8612", "localhost:8612", "http")
    assert not is_own_origin("null", "localhost:8612", "http")


def test_allowed_hosts_default_to_local_names_and_honour_a_configured_list():
    assert compute_allowed_hosts("localhost", []) == ["localhost", "127.0.0.1", "::1"]
    assert compute_allowed_hosts("0.0.0.0", None) == ["localhost", "127.0.0.1", "::1"]
    assert "10.0.0.5" in compute_allowed_hosts("10.0.0.5", [])
    assert compute_allowed_hosts("0.0.0.0", ["wb.example.org"]) == ["wb.example.org"]
    local = compute_allowed_hosts("localhost", [])
    assert is_allowed_host("[::1]:8501", local) and is_allowed_host("LOCALHOST.", local)
    assert not is_allowed_host("localhost@evil.example", local)
    assert not is_allowed_host("", local) and not is_allowed_host("evil.example", local)
    assert is_allowed_host("a.wb.example.org", ["*.wb.example.org"])


def test_streamlit_reads_the_upload_cap_and_error_details_from_the_config():
    code = (
        "import json; from streamlit import config; config.get_config_options(); "
        "print(json.dumps({k: config.get_option(k) for k in ("
        "'server.maxUploadSize', 'client.showErrorDetails', 'server.address', "
        "'server.enableXsrfProtection', 'server.enableCORS')}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    options = json.loads(done.stdout.strip().splitlines()[-1])
    assert options == {
        "server.maxUploadSize": 256,  # the 131 MB ImageNet-Captions JSON fits, 1 GB does not
        "client.showErrorDetails": "none",
        "server.address": "localhost",
        "server.enableXsrfProtection": True,
        "server.enableCORS": True,
    }
    argv = compute_streamlit_argv(["--server.port", "1"], {"WORKBENCH_DEBUG": "1"})
    assert argv[-2:] == ["--client.showErrorDetails", "full"]
    assert "--client.showErrorDetails" not in compute_streamlit_argv([], {})
