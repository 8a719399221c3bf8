"""SQL behind the explore tools (search by meaning, duplicate groups, embeddings map, image
grid): captions by id with their class name and a person's decision."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl

from db.sql import fetch_frame, fetch_row

DETAIL_COLUMNS = (
    "caption_id",
    "wnid",
    "class_name",
    "source",
    "filename",
    "title",
    "description",
    "tags",
    "decision",
)


def list_caption_details(
    con: duckdb.DuckDBPyConnection, caption_ids: Sequence[int]
) -> pl.DataFrame:
    """These captions (DETAIL_COLUMNS; `decision` = a person's keep/drop or null), by id."""
    return fetch_frame(
        con,
        "SELECT c.caption_id, c.wnid, k.name AS class_name, c.source, c.filename, c.title, "
        "c.description, c.tags, d.decision FROM captions c "
        "LEFT JOIN classes k ON k.wnid = c.wnid "
        "LEFT JOIN relevance_decisions d ON d.caption_id = c.caption_id "
        "WHERE c.caption_id IN (SELECT unnest(?::BIGINT[])) ORDER BY c.caption_id",
        [[int(i) for i in caption_ids]],
    )


def get_caption_state(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(number of captions, largest caption id): changes when captions are added or removed."""
    row = fetch_row(con, "SELECT count(*), coalesce(max(caption_id), 0) FROM captions")
    return int(row[0]), int(row[1])


def list_caption_scores(
    con: duckdb.DuckDBPyConnection, model_version: int, caption_ids: Sequence[int]
) -> pl.DataFrame:
    """caption_id, p_own, suspect_wrong_class, suspect_no_content of these captions in one
    model version's scores (captions it did not score are absent), by id."""
    return fetch_frame(
        con,
        "SELECT caption_id, p_own, suspect_wrong_class, suspect_no_content "
        "FROM relevance_scores WHERE model_version = ? "
        "AND caption_id IN (SELECT unnest(?::BIGINT[])) ORDER BY caption_id",
        [int(model_version), [int(i) for i in caption_ids]],
    )
