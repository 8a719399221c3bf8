"""SQL for per-image text (`captions`, `ingest_runs`): writing staged rows, ingest runs, and
the search/browse reads behind the Captions page. Parsing and validating a file happens
before, in TEMP tables (`db.caption_staging`).

Search: `captions.search_text` holds lower(title, description, tags), so a case-insensitive
substring search is one `contains()` scan of one column; the page and its total count come
from that same scan.
"""

from __future__ import annotations

import json

import duckdb
import polars as pl

from db.sql import fetch_dict, fetch_frame, fetch_row, fetch_value

CAPTION_COLUMNS = ("caption_id", "source", "filename", "wnid", "title", "description", "tags")
INGEST_RUN_COUNTS = (
    "n_records",
    "n_inserted",
    "n_updated",
    "n_unchanged",
    "n_invalid",
    "n_unknown_wnid",
)
# What substring search looks in (stored as captions.search_text by the upsert below).
SEARCH_TEXT_SQL = (
    "lower(concat_ws(chr(10), {p}title, {p}description, array_to_string({p}tags, chr(10))))"
)


def upsert_staged_captions(con: duckdb.DuckDBPyConnection, *, source: str) -> dict[str, int]:
    """Write `_caption_clean` into `captions` under `source`, keyed by (source, filename).

    Returns:
        {'n_inserted', 'n_updated', 'n_unchanged'} row counts.
    """
    row = fetch_row(
        con,
        "SELECT count(*) FILTER (WHERE c.filename IS NULL), "
        "count(*) FILTER (WHERE c.filename IS NOT NULL AND (c.wnid, c.title, c.description, "
        "c.tags) IS DISTINCT FROM (n.wnid, n.title, n.description, n.tags)) "
        "FROM _caption_clean n LEFT JOIN captions c ON c.source = ? AND c.filename = n.filename",
        [source],
    )
    inserted, updated = int(row[0]), int(row[1])
    if updated:
        con.execute(
            "UPDATE captions SET wnid = n.wnid, title = n.title, description = n.description, "
            f"tags = n.tags, search_text = {SEARCH_TEXT_SQL.format(p='n.')} "
            "FROM _caption_clean n WHERE captions.source = ? "
            "AND captions.filename = n.filename AND (captions.wnid, captions.title, "
            "captions.description, captions.tags) IS DISTINCT FROM "
            "(n.wnid, n.title, n.description, n.tags)",
            [source],
        )
    if inserted:
        con.execute(
            "INSERT INTO captions (source, filename, wnid, title, description, tags, search_text) "
            "SELECT ?, n.filename, n.wnid, n.title, n.description, n.tags, "
            f"{SEARCH_TEXT_SQL.format(p='n.')} FROM _caption_clean n "
            "ANTI JOIN (SELECT filename FROM captions WHERE source = ?) c USING (filename)",
            [source, source],
        )
    total = int(fetch_value(con, "SELECT count(*) FROM _caption_clean"))
    return {"n_inserted": inserted, "n_updated": updated, "n_unchanged": total - inserted - updated}


def insert_ingest_run(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    path: str,
    sha256: str,
    counts: dict,
    report: dict,
) -> int:
    """Record one ingest run with its report. `counts` holds INGEST_RUN_COUNTS. Returns its id."""
    row = fetch_row(
        con,
        f"INSERT INTO ingest_runs (source, path, sha256, {', '.join(INGEST_RUN_COUNTS)}, "
        "report_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ingest_id",
        [
            source,
            path,
            sha256,
            *(int(counts[k]) for k in INGEST_RUN_COUNTS),
            json.dumps(report, ensure_ascii=False),
        ],
    )
    return int(row[0])


def get_latest_ingest_run(
    con: duckdb.DuckDBPyConnection, source: str | None = None, *, ingest_id: int | None = None
) -> dict | None:
    """The newest caption ingest run (of one source, or with this id) with its report decoded
    (`report['ingest_id']` set), or None. Imports of description files are not caption runs."""
    clauses, params = ["r.source IN (SELECT source FROM sources WHERE kind = 'caption')"], []
    if source:
        clauses.append("r.source = ?")
        params.append(source)
    if ingest_id is not None:
        clauses.append("r.ingest_id = ?")
        params.append(int(ingest_id))
    columns = ", ".join(f"r.{c}" for c in INGEST_RUN_COUNTS)
    run = fetch_dict(
        con,
        f"SELECT r.ingest_id, r.source, r.path, r.sha256, r.started_at, {columns}, r.report_json "
        f"FROM ingest_runs r WHERE {' AND '.join(clauses)} ORDER BY r.ingest_id DESC LIMIT 1",
        params,
    )
    if run is None:
        return None
    run["report"] = {**json.loads(run.pop("report_json")), "ingest_id": run["ingest_id"]}
    return run


def _caption_filter(*, wnid: str | None, source: str | None, query: str | None) -> tuple[str, list]:
    """WHERE clause and parameters. The query is matched literally (`contains`, not LIKE, so
    '%' and '_' are plain characters) against the lower-cased `search_text`."""
    clauses, params = [], []
    if wnid is not None:
        clauses.append("wnid = ?")
        params.append(wnid)
    if source is not None:
        clauses.append("source = ?")
        params.append(source)
    if query:
        clauses.append(f"contains(coalesce(search_text, {SEARCH_TEXT_SQL.format(p='')}), lower(?))")
        params.append(query)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def list_captions(
    con: duckdb.DuckDBPyConnection,
    *,
    wnid: str | None = None,
    source: str | None = None,
    query: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[pl.DataFrame, int]:
    """One page of captions matching the filters, in stored order, and the total match count.

    One scan: the page's ids and the match count come from the same filtered scan (a window
    count over ids only), then the page's 'limit' rows are joined back for their text.

    Args:
        wnid: only this class. source: only this source.
        query: case-insensitive substring of the title, the description or any tag.
        limit: page size (1..1000). offset: rows to skip (>= 0).

    Returns:
        (frame with CAPTION_COLUMNS and the class `class_name`, total number of matches).
    """
    if not 1 <= int(limit) <= 1000:
        raise ValueError(f"limit must be between 1 and 1000, got {limit}")
    if int(offset) < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    where, params = _caption_filter(wnid=wnid, source=source, query=query or None)
    frame = fetch_frame(
        con,
        f"SELECT {', '.join('c.' + c for c in CAPTION_COLUMNS)}, k.name AS class_name, "
        "t.total FROM ("
        f"SELECT caption_id, count(*) OVER () AS total FROM captions {where} "
        "ORDER BY caption_id LIMIT ? OFFSET ?) t JOIN captions c USING (caption_id) "
        "LEFT JOIN classes k ON k.wnid = c.wnid ORDER BY c.caption_id",
        [*params, int(limit), int(offset)],
    )
    if frame.height:
        return frame.drop("total"), int(frame["total"][0])
    total = int(fetch_value(con, f"SELECT count(*) FROM captions {where}", params)) if offset else 0
    return frame.drop("total"), total


def get_caption(con: duckdb.DuckDBPyConnection, caption_id: int) -> dict | None:
    """One caption as a dict (tags a list), or None."""
    return fetch_dict(
        con,
        f"SELECT {', '.join(CAPTION_COLUMNS)} FROM captions WHERE caption_id = ?",
        [int(caption_id)],
    )


def list_caption_class_counts(
    con: duckdb.DuckDBPyConnection, source: str | None = None
) -> pl.DataFrame:
    """Per class and source: captions and how many have a non-empty title / description / tags.

    Columns: wnid, class_index, name, source, n_captions, n_title, n_description, n_tags.
    Classes without captions are not listed.
    """
    where, params = ("WHERE c.source = ?", [source]) if source else ("", [])
    return fetch_frame(
        con,
        "SELECT c.wnid, k.class_index, k.name, c.source, count(*) AS n_captions, "
        "count(*) FILTER (WHERE c.title <> '') AS n_title, "
        "count(*) FILTER (WHERE c.description <> '') AS n_description, "
        "count(*) FILTER (WHERE len(c.tags) > 0) AS n_tags "
        f"FROM captions c LEFT JOIN classes k USING (wnid) {where} "
        "GROUP BY c.wnid, k.class_index, k.name, c.source "
        "ORDER BY k.class_index NULLS LAST, c.wnid, c.source",
        params,
    )


def list_caption_source_counts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per caption source (every registered one, also when empty): title, license,
    attribution, url, captions and classes covered."""
    return fetch_frame(
        con,
        "SELECT s.source, s.title, s.license, s.attribution, s.url, "
        "coalesce(n.n_captions, 0) AS n_captions, coalesce(n.n_classes, 0) AS n_classes "
        "FROM sources s LEFT JOIN (SELECT source, count(*) AS n_captions, "
        "count(DISTINCT wnid) AS n_classes FROM captions GROUP BY source) n USING (source) "
        "WHERE s.kind = 'caption' ORDER BY s.source",
    )
