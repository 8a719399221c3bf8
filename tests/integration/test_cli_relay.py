"""The command line beside the open app (`cli.relay`): with the real app holding a real
database, `workbench` commands run inside it and print their output and progress here."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from cli import relay
from curation import access
from curation.catalog import seed_imagenet1k
from db.connect import connect
from tests.browser.conftest import start_app
from tests.conftest import REPO_ROOT

WORKBENCH = [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())"]


def _workbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*WORKBENCH, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def open_app(tmp_path):
    db_path = tmp_path / "held.duckdb"
    con = connect(db_path, create=True)
    seed_imagenet1k(con)
    con.close()
    with start_app(db_path) as server:
        yield server


def test_commands_run_in_the_open_app_and_print_here(open_app, shared_dir):
    db = str(open_app.db_path)
    records = shared_dir / "data" / "imagenet_captions" / "sample_records.json"
    imported = _workbench("ingest-captions", str(records), "--source", "relayed", "--db", db)
    assert imported.returncode == 0, imported.stderr
    assert "inserted 3" in imported.stdout
    assert "100.0% done" in imported.stderr  # the progress bar, drawn here as it came
    listed = _workbench("jobs", "list", "--db", db)
    assert listed.returncode == 0 and "job_id" in listed.stdout
    refused = _workbench("jobs", "list", "--db", db, "--create")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "workbench jobs: error: --create and --storage are not taken while the app holds the "
        "database."
    ]
    open_app.process.terminate()
    open_app.process.wait(timeout=20)
    con = connect(open_app.db_path, create=False)
    try:
        sources = con.execute("SELECT count(*) FROM captions WHERE source = 'relayed'").fetchone()
        assert sources == (3,)  # written by the app's process, into the app's database
    finally:
        con.close()


def test_without_an_app_the_command_runs_here_and_a_stale_socket_is_ignored(tmp_path):
    db_path = tmp_path / "free.duckdb"
    connect(db_path, create=True).close()
    socket_path = relay.compute_socket_path(db_path)
    socket_path.parent.mkdir(mode=0o700, exist_ok=True)
    socket_path.write_text("")  # what a killed app leaves: nobody listens
    try:
        listed = _workbench("jobs", "list", "--db", str(db_path))
    finally:
        socket_path.unlink(missing_ok=True)
    assert listed.returncode == 0, listed.stderr
    assert len(str(socket_path).encode()) < 108  # a Unix socket path's limit


def test_the_relay_folder_must_be_private(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(RuntimeError, match="not a private folder"):
        relay._private_folder(shared)


def test_a_block_policy_holds_for_its_thread_only():
    team = access.Policy(team=True)
    seen = {}
    inside = threading.Event()
    release = threading.Event()

    def relayed_command():
        with access.using_policy(access.LOCAL):
            seen["command"] = access.get_policy()
            inside.set()
            release.wait(5)

    access.configure_policy(team)
    try:
        worker = threading.Thread(target=relayed_command)
        worker.start()
        inside.wait(5)
        seen["app"] = access.get_policy()  # the app's pages meanwhile
        release.set()
        worker.join(5)
    finally:
        access.configure_policy(access.LOCAL)
    assert seen == {"command": access.LOCAL, "app": team}
