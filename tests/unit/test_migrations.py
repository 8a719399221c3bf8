"""Migrations: applied once, idempotent, recorded, and a newer database is refused."""

from __future__ import annotations

import pytest

from db.connect import connect
from db.migrate import DatabaseTooNewError, apply_migrations, get_schema_version, list_migrations


def test_migrations_apply_once_and_twice_is_a_no_op(db_path):
    con = connect(db_path)
    latest = list_migrations()[-1].version
    assert get_schema_version(con) == latest
    assert apply_migrations(con) == []
    con.close()
    con = connect(db_path)  # reopening the file applies nothing and keeps the version
    assert get_schema_version(con) == latest
    versions = [
        row[0] for row in con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
    ]
    assert versions == list(range(1, latest + 1))
    con.close()


def test_database_from_newer_workbench_is_refused_with_clear_message(db_path):
    con = connect(db_path)
    con.execute("INSERT INTO schema_version (version, name) VALUES (999, 'from_the_future')")
    con.close()
    with pytest.raises(DatabaseTooNewError, match="schema version 999"):
        connect(db_path)


def test_failed_migration_rolls_back(con):
    con.execute("CREATE TABLE probe (x INTEGER)")
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO probe VALUES (1)")
    con.execute("ROLLBACK")
    assert con.execute("SELECT count(*) FROM probe").fetchall() == [(0,)]


def test_every_table_of_the_foundation_exists(con):
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    for name in (
        "classes",
        "sources",
        "descriptions",
        "active_descriptions",
        "description_events",
        "captions",
        "ingest_runs",
        "jobs",
        "job_logs",
    ):
        assert name in tables


def test_a_gap_or_a_migration_without_statements_is_refused():
    from db.migrate import Migration, check_migrations

    one = Migration(1, "first", "CREATE TABLE t (x INTEGER);")
    with pytest.raises(RuntimeError, match="without gaps"):
        check_migrations([one, Migration(3, "third", "SELECT 1;")])
    # An empty ("reserved") file would be recorded as applied and what is added later lost.
    with pytest.raises(RuntimeError, match="without statements"):
        check_migrations([one, Migration(2, "reserved", "-- reserved for later\n")])
    assert check_migrations([one]) == [one]
