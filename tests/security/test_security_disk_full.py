"""Issue 23: a caption import on a full disk printed DuckDB's `TransactionException` traceback.
Now the one transaction helper turns DuckDB's failure to write the file into one line
(`db.sql.DatabaseWriteError`), the import says nothing was imported, and the database is as
it was. The disk is full for real: a 32 MiB tmpfs in a private mount namespace, filled up.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT

_SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, subprocess, sys
    from pathlib import Path
    tiny, captions = Path(sys.argv[1]), sys.argv[2]
    tiny.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(tiny)], check=True)
    from cli.main import main
    from curation.catalog import seed_imagenet1k
    from db import jobs as job_db
    from db.connect import connect
    from jobs.worker import run_queued_jobs
    db = tiny / "w.duckdb"
    con = connect(db)
    seed_imagenet1k(con)
    job = job_db.insert_job(con, kind="ingest_captions",
                            spec={"path": captions, "source": "imagenet-captions"})
    con.execute("CHECKPOINT")
    con.close()
    with open(tiny / "filler", "wb") as f:  # fill the disk, then give back 512 KiB
        with contextlib.suppress(OSError):
            while True:
                f.write(bytes(1 << 16))
                f.flush()
    with open(tiny / "filler", "r+b") as f:
        f.truncate(max(0, (tiny / "filler").stat().st_size - (1 << 19)))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(["ingest-captions", captions, "--db", str(db), "--quiet"])
    con = connect(db, create=False)
    run_queued_jobs(con)
    web = job_db.get_job(con, job)
    counts = [con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("captions", "ingest_runs", "classes")]
    con.close()
    print(json.dumps({"rc": rc, "stderr": err.getvalue(), "db": str(db), "counts": counts,
                      "job": [web["status"], web["error"]]}))
    """
)


def _records(n: int) -> list[dict]:
    return [
        {
            "filename": f"n01440764_{i}.JPEG",
            "wnid": "n01440764",
            "title": f"tench {i}",
            "description": "a fish held by an angler " * 20,
            "tags": ["fish", "tench", str(i)],
        }
        for i in range(n)
    ]


def _in_a_mount_namespace() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs unshare(1) to mount a small tmpfs")
    prefix = [unshare, "--mount"] if os.geteuid() == 0 else [unshare, "-rm"]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("mount namespaces are not available here")
    return prefix


def test_an_import_on_a_full_disk_says_so_in_one_line_and_keeps_the_database(tmp_path):
    prefix = _in_a_mount_namespace()
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps(_records(20_000)))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "WORKBENCH_STORAGE": ""}
    done = subprocess.run(
        [*prefix, sys.executable, "-c", _SCRIPT, str(tmp_path / "tiny"), str(captions)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if "mount: " in done.stderr and done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    line = f"disk full while writing {result['db']}: nothing was imported"
    assert result["rc"] == 2
    assert result["stderr"] == f"workbench ingest-captions: error: {line}\n"
    assert result["counts"] == [0, 0, 1000]  # nothing of the import, the catalog intact
    status, error = result["job"]  # the web import runs the same function as a job
    assert status == "failed" and error.endswith(line), error
