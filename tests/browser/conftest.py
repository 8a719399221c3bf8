"""Real-browser tests: the workbench served by Streamlit, driven in Debian Chromium (Playwright).

`start_app(db_path)` serves the app (`python -m ui.launch`, the launcher of `workbench run`)
on a free port with its own database file and log; `browser_page` (tests/conftest.py) is a
Chromium page that saves a screenshot under `.cache/test-artifacts/` when its test fails.
Nothing here talks to the internet: Chromium runs with background networking off.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT_DIR = REPO_ROOT / ".cache" / "test-artifacts"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(
                    pytest.mark.skip(reason="Debian chromium is not installed (make test does it)")
                )


@dataclass
class AppServer:
    """A running workbench server."""

    url: str
    db_path: Path
    log_path: Path
    process: subprocess.Popen

    def log_tail(self, n_chars: int = 4000) -> str:
        return (
            self.log_path.read_text(errors="replace")[-n_chars:] if self.log_path.exists() else ""
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def start_app(
    db_path: Path,
    *,
    script: Path | None = None,
    env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
) -> Iterator[AppServer]:
    """Serve the workbench (or a test `script`) on a free port; stopped when the block ends.

    The database file must be closed by the caller first: the server's process owns it.
    """
    port = free_port()
    log_path = db_path.with_suffix(f".{port}.log")
    # The server's output goes to a file (a pipe nobody reads can fill up and stall it).
    log_file = log_path.open("wb")
    target = ["-m", "ui.launch"] if script is None else ["-m", "streamlit", "run", str(script)]
    command = [
        sys.executable,
        *target,
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        *(extra_args or []),
    ]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env={**os.environ, "WORKBENCH_DB": str(db_path), **(env or {})},
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = AppServer(f"http://127.0.0.1:{port}", db_path, log_path, process)
    try:
        _wait_until_healthy(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log_file.close()


def _wait_until_healthy(server: AppServer, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited early:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"no answer at {server.url} within {timeout_s} s:\n{server.log_tail()}")


# `chromium` and `browser_page` live in tests/conftest.py: one Chromium per session for every
# folder that drives it (tests/security too); a second sync Playwright in one thread fails.


def save_screenshot(page, name: str) -> Path:
    """A full-page screenshot under `.cache/test-artifacts/` once the script run is done."""
    wait_for_app(page)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_app(page, timeout_ms: int = 90_000) -> None:
    """Wait until Streamlit has finished running the script (no 'Running...' indicator)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector(\"[data-testid='stStatusWidget']\")",
        timeout=timeout_ms,
    )


def list_jobs_through_cli(server: AppServer, kind: str) -> list[dict]:
    """The app's jobs of `kind`, read the way a curator would while the app holds the
    database: `workbench jobs list --json`, relayed into the running app (`cli.relay`)."""
    command = "import sys; from cli.main import main; sys.exit(main())"
    listed = subprocess.run(
        [sys.executable, "-c", command, "jobs", "list", "--json", "--db", str(server.db_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    return [job for job in json.loads(listed.stdout) if job["kind"] == kind]
