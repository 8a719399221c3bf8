"""Read-only summary queries for the Overview page and the demo check."""

from __future__ import annotations

import duckdb
import polars as pl

from db.sql import fetch_frame, fetch_value


def get_store_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Headline counts: classes, classes with captions, captions, active descriptions, jobs."""
    sql = (
        "SELECT (SELECT count(*) FROM classes) AS classes, "
        "(SELECT count(*) FROM classes WHERE origin <> 'imagenet-1k') AS added_classes, "
        "(SELECT count(*) FROM captions) AS captions, "
        "(SELECT count(DISTINCT wnid) FROM captions) AS classes_with_captions, "
        "(SELECT count(*) FROM descriptions) AS description_candidates, "
        "(SELECT count(*) FROM active_descriptions) AS active_descriptions, "
        "(SELECT count(*) FROM description_events) AS description_edits"
    )
    return fetch_frame(con, sql).row(0, named=True)


def list_source_summary(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every registered source with its license and how many rows it contributed."""
    return fetch_frame(
        con,
        "SELECT s.source, s.kind, s.title, s.license, s.attribution, s.url, "
        "coalesce(c.n, d.n, 0) AS n_rows "
        "FROM sources s "
        "LEFT JOIN (SELECT source, count(*) AS n FROM captions GROUP BY source) c USING (source) "
        "LEFT JOIN (SELECT source, count(*) AS n FROM descriptions GROUP BY source) d "
        "USING (source) ORDER BY s.kind, s.source",
    )


def list_captions_per_class(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per catalog class and caption source: number of captions (classes with none included)."""
    return fetch_frame(
        con,
        "SELECT k.wnid, k.name, k.class_index, c.source, coalesce(c.n, 0) AS n_captions "
        "FROM classes k LEFT JOIN (SELECT wnid, source, count(*) AS n FROM captions "
        "GROUP BY wnid, source) c USING (wnid) ORDER BY k.class_index NULLS LAST, k.wnid",
    )


def has_caption_source(con: duckdb.DuckDBPyConnection, source: str) -> bool:
    """True when at least one caption of this source is stored."""
    return bool(fetch_value(con, "SELECT count(*) > 0 FROM captions WHERE source = ?", [source]))
