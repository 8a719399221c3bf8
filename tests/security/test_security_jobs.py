"""Issue 23: a killed app's jobs read 'queued' / 'running' in `workbench jobs list` until the
app starts again. The CLI now records them as the app does at its start
(`db.jobs.fail_interrupted_jobs`): a worker whose process no longer exists on this host is
dead at once, not only once its heartbeat is 15 s old; a live worker's jobs are untouched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from cli.main import main as workbench
from db import jobs as job_db
from db.connect import connect

REPO_ROOT = Path(__file__).resolve().parents[2]

# A stand-in for the app: queues two jobs, claims one as its worker, then is killed.
_APP = textwrap.dedent(
    """
    import sys, time
    from db import jobs as job_db
    from db.connect import connect
    con = connect(sys.argv[1])
    running = job_db.insert_job(con, kind="noop", spec={})
    queued = job_db.insert_job(con, kind="noop", spec={})
    job_db.claim_next_job(con, job_db.insert_worker(con))
    con.execute("CHECKPOINT")
    print(running, queued, flush=True)
    time.sleep(600)
    """
)


def test_jobs_of_a_killed_app_read_interrupted_in_the_cli_at_once(db_path, capsys):
    connect(db_path).close()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    app = subprocess.Popen(
        [sys.executable, "-c", _APP, str(db_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        running, queued = map(int, app.stdout.readline().split())
    finally:
        app.send_signal(signal.SIGKILL)
        app.wait()
        app.stdout.close()
    # Killed a moment ago: its heartbeat is still fresh, but its process is gone.
    assert workbench(["jobs", "list", "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("┆ failed ┆") == 2, out
    con = connect(db_path, create=False)
    try:
        for job_id in (running, queued):
            job = job_db.get_job(con, job_id)
            assert job["status"] == "failed" and job["error"].startswith("Interrupted"), job
    finally:
        con.close()


def test_the_cli_leaves_the_jobs_of_a_live_worker_alone(con, db_path, capsys):
    running = job_db.insert_job(con, kind="noop", spec={})
    queued = job_db.insert_job(con, kind="noop", spec={})
    job_db.claim_next_job(con, job_db.insert_worker(con))  # this process: alive
    assert workbench(["jobs", "list", "--db", str(db_path)]) == 0
    assert job_db.get_job(con, running)["status"] == "running"
    assert job_db.get_job(con, queued)["status"] == "queued"
