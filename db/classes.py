"""SQL for the class catalog (`classes` table) and the text `sources` registry."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import polars as pl

from db.sql import fetch_dict, fetch_frame, fetch_value, registered

CLASS_COLUMNS = ("wnid", "class_index", "name", "lemmas", "origin")


def insert_classes(con: duckdb.DuckDBPyConnection, rows: Iterable[tuple]) -> int:
    """Insert catalog rows `(wnid, class_index, name, lemmas, origin)`, skipping known wnids.

    Returns:
        How many rows were new.
    """
    frame = pl.DataFrame(
        list(rows),
        schema={
            "wnid": pl.Utf8,
            "class_index": pl.Int32,
            "name": pl.Utf8,
            "lemmas": pl.Utf8,
            "origin": pl.Utf8,
        },
        orient="row",
    )
    before = count_classes(con)
    with registered(con, "_new_classes", frame):
        con.execute(
            "INSERT INTO classes (wnid, class_index, name, lemmas, origin) "
            "SELECT n.wnid, n.class_index, n.name, n.lemmas, n.origin FROM _new_classes n "
            "WHERE n.wnid NOT IN (SELECT wnid FROM classes)"
        )
    return count_classes(con) - before


def count_classes(con: duckdb.DuckDBPyConnection) -> int:
    """Number of classes in the catalog."""
    return int(fetch_value(con, "SELECT count(*) FROM classes"))


def get_class(con: duckdb.DuckDBPyConnection, wnid: str) -> dict | None:
    """One class as a dict, or None when the wnid is not in the catalog."""
    return fetch_dict(con, f"SELECT {', '.join(CLASS_COLUMNS)} FROM classes WHERE wnid = ?", [wnid])


def list_classes(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """All classes, 1k classes first in class-index order, added classes after by wnid."""
    return fetch_frame(
        con,
        "SELECT wnid, class_index, name, lemmas, origin FROM classes "
        "ORDER BY class_index NULLS LAST, wnid",
    )


def list_known_wnids(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The set of wnids in the catalog."""
    return {row[0] for row in con.execute("SELECT wnid FROM classes").fetchall()}


def upsert_source(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    kind: str,
    title: str,
    license: str,
    attribution: str,
    url: str | None = None,
) -> None:
    """Register (or refresh the attribution of) a text source."""
    con.execute(
        "INSERT INTO sources (source, kind, title, license, attribution, url) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET kind = excluded.kind, "
        "title = excluded.title, license = excluded.license, "
        "attribution = excluded.attribution, url = excluded.url",
        [source, kind, title, license, attribution, url],
    )


def list_sources(con: duckdb.DuckDBPyConnection, kind: str | None = None) -> pl.DataFrame:
    """Registered sources (optionally of one kind) with their licenses."""
    sql = "SELECT source, kind, title, license, attribution, url FROM sources"
    params: list = []
    if kind is not None:
        sql += " WHERE kind = ?"
        params.append(kind)
    return fetch_frame(con, sql + " ORDER BY kind, source", params)


def get_class_names(con: duckdb.DuckDBPyConnection, wnids: list[str]) -> dict[str, str]:
    """Display names from the catalog, then from added classes; missing ids are left out."""
    frame = fetch_frame(
        con,
        "SELECT wnid, name FROM classes WHERE list_contains(?, wnid) "
        "UNION ALL SELECT wnid, name FROM added_classes WHERE list_contains(?, wnid)",
        [wnids, wnids],
    )
    return dict(zip(frame["wnid"].to_list(), frame["name"].to_list(), strict=True))


def get_class_lemmas(con: duckdb.DuckDBPyConnection, wnids: list[str]) -> list[str]:
    """Each wnid's ', '-separated lemmas (catalog classes), its name (added classes), or ''
    for an unknown id; in the order of `wnids`."""
    frame = fetch_frame(
        con,
        "SELECT wnid, lemmas FROM classes WHERE list_contains(?, wnid) "
        "UNION ALL SELECT wnid, name FROM added_classes WHERE list_contains(?, wnid)",
        [wnids, wnids],
    )
    found = dict(zip(frame["wnid"].to_list(), frame["lemmas"].to_list(), strict=True))
    return [found.get(w, "") for w in wnids]
