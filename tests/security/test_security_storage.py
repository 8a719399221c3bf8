"""Findings 4 and 6 of issue 23 (and issue 17 #10): one storage root per database, and a
database path that is foreign or missing is refused without being touched.

4. Class heads were stored by class id in `heads/` beside the database, so two databases in one
   folder overwrote and deleted each other's files (A's export failed its sha256 check after B
   kept and discarded the same id). Every file now goes under the database's own storage root
   (`<db folder>/<db stem>-files/`, or $WORKBENCH_STORAGE / --storage), never the working
   directory, and a discard deletes only files under its own root.
6. `workbench jobs list --db other.duckdb` added the workbench's tables to another
   application's DuckDB file; a mistyped `--db` silently created a new database. Now a foreign
   file is refused before anything is written, and a missing one needs `--create`.
"""

from __future__ import annotations

import duckdb
import pytest

from cli.main import main as workbench
from contract.storage import STORAGE_ENV_VAR, compute_storage_root
from curation.catalog import seed_imagenet1k
from db.connect import DatabaseFileError, connect
from db.storage import get_storage
from extension.specs import AddClassSpec, ExportSpec
from extension.synthesis.export import run_export
from extension.synthesis.methods import resolve_method
from extension.synthesis.new_class import discard_added_class, keep_added_class, run_add_class
from tests.extension_helpers import TINY_MODEL, insert_texts

CLASS_ID = "custom-house-cat"


def _database(path):
    con = connect(path)
    seed_imagenet1k(con)
    insert_texts(con)
    return con


def _add_and_keep(con, description: str) -> None:
    spec = AddClassSpec(
        class_id=CLASS_ID,
        name="house cat",
        description=description,
        methods=(resolve_method("ridge-norm"),),
        model=TINY_MODEL,
        device="cpu",
        actor="tester",
    )
    run_add_class(con, spec)
    keep_added_class(con, CLASS_ID)


def test_two_databases_in_one_folder_keep_their_own_class_heads(tmp_path, monkeypatch):
    a, b = _database(tmp_path / "a.duckdb"), _database(tmp_path / "b.duckdb")
    try:
        _add_and_keep(a, "A small domestic cat with striped fur and whiskers, kept as a pet.")
        _add_and_keep(b, "A large wild cat with a mane that lives on the savanna in prides.")
        assert get_storage(a).heads != get_storage(b).heads
        discard_added_class(b, CLASS_ID)
        result = run_export(a, ExportSpec(model=TINY_MODEL))  # checks the head's sha256
        assert result["added"] == [CLASS_ID]
    finally:
        a.close()
        b.close()
    assert not (tmp_path / "heads").exists()  # nothing shared beside the databases


def test_the_storage_root_follows_the_database_not_the_working_directory(
    tmp_path, monkeypatch, capsys
):
    db = tmp_path / "data" / "mine.duckdb"
    connect(db).close()
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    argv = ["export-model", "--db", str(db), "--model", TINY_MODEL.name, "--no-pretrained"]
    assert workbench(argv) == 0, capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []  # no .cache/, no data/ in the working directory
    assert len(list((tmp_path / "data" / "mine-files" / "exports").iterdir())) == 1
    assert compute_storage_root(db) == tmp_path / "data" / "mine-files"


def test_storage_option_and_environment_override_the_root(tmp_path, monkeypatch, capsys):
    db = tmp_path / "w.duckdb"
    connect(db).close()
    chosen = tmp_path / "elsewhere"
    argv = ["export-model", "--db", str(db), "--storage", str(chosen)]
    assert workbench([*argv, "--model", TINY_MODEL.name, "--no-pretrained"]) == 0
    assert len(list((chosen / "exports").iterdir())) == 1
    monkeypatch.setenv(STORAGE_ENV_VAR, str(tmp_path / "env"))
    assert compute_storage_root(db) == tmp_path / "env"


def test_another_applications_duckdb_file_is_refused_and_not_changed(tmp_path, capsys):
    other = tmp_path / "other.duckdb"
    foreign = duckdb.connect(str(other))
    foreign.execute("CREATE TABLE accounts (id INTEGER, owner VARCHAR)")
    foreign.execute("INSERT INTO accounts VALUES (1, 'ana')")
    foreign.close()
    before = other.read_bytes()
    assert workbench(["jobs", "list", "--db", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a workbench database" in err and "\n" not in err, err
    assert other.read_bytes() == before
    with pytest.raises(DatabaseFileError, match="not a workbench database"):
        connect(other)
    tables = duckdb.connect(str(other), read_only=True).execute("SHOW TABLES").fetchall()
    assert tables == [("accounts",)]


def test_a_missing_database_needs_create(tmp_path, capsys):
    missing = tmp_path / "typo.duckdb"
    assert workbench(["jobs", "list", "--db", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not exist" in err and "--create" in err, err
    assert not missing.exists()
    assert workbench(["jobs", "list", "--db", str(missing), "--create"]) == 0
    assert missing.exists()
    assert workbench(["jobs", "list", "--db", str(missing)]) == 0  # exists now


def test_the_old_cache_in_the_checkout_is_moved_not_abandoned(tmp_path, capsys):
    db = tmp_path / "data" / "workbench.duckdb"
    connect(db).close()
    (tmp_path / ".cache" / "text-embeddings").mkdir(parents=True)
    (tmp_path / ".cache" / "test-artifacts").mkdir()  # not the workbench's: stays
    (tmp_path / ".cache" / "text-embeddings" / "shard.npy").write_bytes(b"13 minutes of work")
    assert workbench(["jobs", "list", "--db", str(db)]) == 0
    assert "Moved text-embeddings" in capsys.readouterr().err
    assert (tmp_path / ".cache" / "test-artifacts").is_dir()
    moved = tmp_path / "data" / "workbench-files" / "cache" / "text-embeddings" / "shard.npy"
    assert moved.read_bytes() == b"13 minutes of work"
    # A `.cache/` without the workbench's folders is someone else's: left alone.
    other = tmp_path / "other"
    (other / "data").mkdir(parents=True)
    (other / ".cache" / "pip").mkdir(parents=True)
    connect(other / "data" / "workbench.duckdb").close()
    assert workbench(["jobs", "list", "--db", str(other / "data" / "workbench.duckdb")]) == 0
    assert (other / ".cache" / "pip").is_dir()


def test_leftovers_of_killed_jobs_are_removed_only_in_the_products_folders(tmp_path):
    from contract.storage import compute_storage, remove_leftovers

    storage = compute_storage(tmp_path / "w.duckdb")
    storage.tmp.mkdir(parents=True)
    (storage.tmp / "captions-abc.json").write_text("[]")
    (storage.exports / ".extended-model-1.x1.partial").mkdir(parents=True)
    (storage.exports / ".extended-model-1.zip.y2.tmp").write_text("half")
    (storage.exports / "extended-model-1").mkdir()
    (tmp_path / ".mine.partial").mkdir()
    remove_leftovers(storage)
    assert list(storage.tmp.iterdir()) == []
    assert [p.name for p in storage.exports.iterdir()] == ["extended-model-1"]
    assert (tmp_path / ".mine.partial").is_dir()


def test_the_cli_shows_a_killed_training_as_stopped_not_training(db_path):
    """Issue 23 #14: a killed training read 'training' in the CLI until the app started; any
    command that opens the database now records it as stopped (resumable)."""
    from db import relevance as relevance_db

    con = connect(db_path)
    run_id = relevance_db.insert_run(
        con,
        name="killed",
        encoder="tiny",
        class_wnids=["n01440764"],
        checkpoint_dir=str(db_path.parent / "run"),
        spec={},
        dataset_report={},
    )
    con.close()
    assert workbench(["jobs", "list", "--db", str(db_path)]) == 0
    con = connect(db_path)
    try:
        assert relevance_db.get_run(con, run_id=run_id)["status"] == "stopped"
    finally:
        con.close()
