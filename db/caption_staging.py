"""SQL that parses and validates a caption file in TEMP staging tables, before
`db.captions.upsert_staged_captions` writes the clean rows.

Parsing and validation happen in DuckDB, not in a Python loop: `read_json_objects` parses the
JSON list once (one row per element, in file order), `json_extract` pulls the five fields of
each record in one pass, and the first character of each field's JSON text gives its kind
(string, number, object, ...; a missing key is SQL NULL, a JSON null is 'null'). The staged
rows live in TEMP tables of the calling connection, inside the ingest's transaction, so
nothing of a failed ingest survives (`staging_tables` drops them afterwards). Tables:
`_caption_stage` (every element), `_caption_problems` (idx, field, reason, severity, detail),
`_caption_clean` (rows to store).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import polars as pl

from db.sql import fetch_frame, fetch_value

# The JSON kind of a value from the first character of its (minified) JSON text, which is
# much cheaper than json_type() (no parse); a missing key stays SQL NULL.
_JSON_KIND = (
    "CASE WHEN {t} IS NULL THEN NULL ELSE CASE left({t}::VARCHAR, 1) WHEN '\"' THEN 'string' "
    "WHEN 'n' THEN 'null' WHEN '{{' THEN 'object' WHEN '[' THEN 'array' WHEN 't' THEN 'boolean' "
    "WHEN 'f' THEN 'boolean' ELSE 'number' END END"
)
_FIELDS = ("filename", "wnid", "title", "description", "tags")
# The largest single record the parser accepts (DuckDB's default is 16 MiB). Bigger text is
# truncated to the field caps afterwards; a record above this fails the file with a message.
MAX_RECORD_BYTES = 256 << 20


STAGING_TABLES = ("_caption_stage", "_caption_problems", "_caption_clean")


@contextmanager
def staging_tables(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """The block that fills the TEMP staging tables; they are dropped at its end, whatever
    happens (the caller wraps the writes in `db.sql.transaction`)."""
    try:
        yield con
    finally:
        for table in STAGING_TABLES:
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")


def stage_caption_file(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """Parse a JSON list into TEMP `_caption_stage`: one row per element with its 0-based
    `idx`, the JSON kind of the element and of each field, and the fields as text.

    Returns:
        The number of elements. Raises duckdb.Error for a file that is not a JSON list.
    """
    kinds = {f: _JSON_KIND.format(t=f"v[{i}]") for i, f in enumerate(_FIELDS, 1)}
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _caption_stage AS
        WITH raw AS (
            SELECT row_number() OVER () - 1 AS idx, json AS j
            FROM read_json_objects(?, format = 'array', maximum_object_size = ?)
        ), parts AS (
            SELECT idx, j AS record_type,
                json_extract(j, ['$.filename', '$.wnid', '$.title', '$.description', '$.tags']) AS v
            FROM raw
        )
        SELECT idx, {_JSON_KIND.format(t="record_type")} AS record_kind,
            {kinds["filename"]} AS filename_kind, v[1] ->> '$' AS filename,
            {kinds["wnid"]} AS wnid_kind, v[2] ->> '$' AS wnid,
            {kinds["title"]} AS title_kind, v[3] ->> '$' AS title,
            {kinds["description"]} AS description_kind, v[4] ->> '$' AS description,
            {kinds["tags"]} AS tags_kind,
            CASE WHEN json_type(v[5]) = 'ARRAY' THEN json_extract_string(v[5], '$[*]') END AS tags,
            CASE WHEN json_type(v[5]) = 'ARRAY' THEN list_position(
                list_transform(json_type(v[5], '$[*]'), lambda t: t = 'VARCHAR'), false) END
                AS bad_tag_pos
        FROM parts
        """,
        [path, MAX_RECORD_BYTES],
    )
    return int(fetch_value(con, "SELECT count(*) FROM _caption_stage"))


def _problem_checks(
    *, max_filename: int, max_title: int, max_description: int, max_tag: int, max_tags: int
) -> list[tuple[str, str, str, str, str]]:
    """(field, severity, condition SQL, reason SQL, detail SQL) over JSON-object records."""
    kind_reason = (
        "CASE WHEN {f}_kind IS NULL THEN 'missing' ELSE 'not a string (got ' || {f}_kind || ')' END"
    )
    null_reason = (
        "CASE WHEN {f}_kind IS NULL THEN 'missing: stored as {v}' ELSE 'null: stored as {v}' END"
    )
    is_string = "filename_kind = 'string' AND "
    # fmt: off
    checks = [
        ("filename", "invalid", "filename_kind IS DISTINCT FROM 'string'",
         kind_reason.format(f="filename"), "NULL"),
        ("filename", "invalid", is_string + "trim(filename) = ''", "'empty'", "NULL"),
        ("filename", "invalid", is_string + f"length(filename) > {max_filename}",
         f"'longer than {max_filename} characters'", "length(filename)::VARCHAR || ' characters'"),
        ("filename", "invalid", is_string + "regexp_matches(filename, '[\\x00-\\x1f\\x7f]')",
         "'contains control characters'", "NULL"),
        ("wnid", "invalid", "wnid_kind IS DISTINCT FROM 'string'", kind_reason.format(f="wnid"),
         "NULL"),
        ("tags", "invalid", "tags_kind NOT IN ('array', 'null')",
         "'not a list (got ' || tags_kind || ')'", "NULL"),
        ("tags", "invalid", "bad_tag_pos > 0", "'an element is not a string'",
         "'at tags[' || (bad_tag_pos - 1)::VARCHAR || ']'"),
        ("tags", "fixed", "coalesce(tags_kind, 'null') = 'null'",
         null_reason.format(f="tags", v="[]"), "NULL"),
        ("tags", "fixed", f"len(tags) > {max_tags}",
         f"'more than {max_tags} tags: extra tags dropped'", "len(tags)::VARCHAR || ' tags'"),
        ("tags", "fixed", f"list_max(list_transform(tags, lambda t: length(t))) > {max_tag}",
         f"'a tag longer than {max_tag} characters: truncated'", "NULL"),
        ("tags", "fixed", "list_bool_or(list_transform(tags, lambda t: contains(t, chr(0))))",
         "'contains NUL bytes: removed'", "NULL"),
    ]
    for f, cap in (("title", max_title), ("description", max_description)):
        checks += [
            (f, "invalid", f"{f}_kind NOT IN ('string', 'null')",
             f"'not a string (got ' || {f}_kind || ')'", "NULL"),
            (f, "fixed", f"coalesce({f}_kind, 'null') = 'null'",
             null_reason.format(f=f, v="empty text"), "NULL"),
            (f, "fixed", f"length({f}) > {cap}", f"'longer than {cap} characters: truncated'",
             f"length({f})::VARCHAR || ' characters'"),
            (f, "fixed", f"contains({f}, chr(0))", "'contains NUL bytes: removed'", "NULL"),
        ]
    # fmt: on
    return checks


def insert_stage_problems(con: duckdb.DuckDBPyConnection, **limits: int) -> None:
    """Fill TEMP `_caption_problems(idx, field, reason, severity, detail)` from the stage.

    Args:
        limits: max_filename, max_title, max_description, max_tag, max_tags (characters or
            counts; see curation.captions.CaptionLimits).

    severity 'invalid': the record is not stored. 'fixed': it is stored after a repair
    (null or missing text -> '', text truncated to its cap, NUL bytes removed).
    """
    objects = "(SELECT * FROM _caption_stage WHERE record_kind = 'object')"  # inlined, not copied
    branches = [
        "SELECT idx, '(record)' AS field, 'not an object (got ' || record_kind || ')' AS reason, "
        "'invalid' AS severity, NULL::VARCHAR AS detail "
        "FROM _caption_stage WHERE record_kind <> 'object'",
        "SELECT idx, 'filename', 'duplicate of an earlier record in this file', 'invalid', "
        "'first at index ' || first_idx::VARCHAR FROM (SELECT idx, min(idx) OVER "
        f"(PARTITION BY filename) AS first_idx FROM {objects} WHERE filename_kind = 'string') "
        "WHERE idx > first_idx",
    ]
    branches += [
        f"SELECT idx, '{field}', {reason}, '{severity}', {detail} FROM {objects} WHERE {condition}"
        for field, severity, condition, reason, detail in _problem_checks(**limits)
    ]
    con.execute("CREATE OR REPLACE TEMP TABLE _caption_problems AS " + " UNION ALL ".join(branches))
    # Repairs of records that are not stored anyway would only be noise in the report.
    con.execute(
        "DELETE FROM _caption_problems WHERE severity = 'fixed' AND idx IN "
        "(SELECT idx FROM _caption_problems WHERE severity = 'invalid')"
    )


def list_problem_counts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per (severity, field, reason): how many records, most frequent first."""
    return fetch_frame(
        con,
        "SELECT severity, field, reason, count(*) AS n FROM _caption_problems "
        "GROUP BY ALL ORDER BY severity DESC, n DESC, field, reason",
    )


def list_problem_examples(con: duckdb.DuckDBPyConnection, *, per_reason: int) -> pl.DataFrame:
    """The first `per_reason` records (by index) of each (field, reason), with the filename
    when it is a string (cut to 200 characters)."""
    return fetch_frame(
        con,
        'SELECT p.severity, p.idx AS "index", p.field, p.reason, p.detail, '
        "CASE WHEN s.filename_kind = 'string' THEN left(s.filename, 200) END AS filename "
        "FROM (SELECT *, row_number() OVER (PARTITION BY severity, field, reason ORDER BY idx) "
        "AS k FROM _caption_problems) p JOIN _caption_stage s USING (idx) "
        "WHERE p.k <= ? ORDER BY p.severity DESC, p.field, p.reason, p.idx",
        [per_reason],
    )


def count_invalid_records(con: duckdb.DuckDBPyConnection) -> int:
    """Records with at least one 'invalid' problem (not stored)."""
    return int(
        fetch_value(
            con, "SELECT count(DISTINCT idx) FROM _caption_problems WHERE severity = 'invalid'"
        )
    )


def list_unknown_wnids(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Otherwise valid records whose wnid is not in `classes`: per wnid (cut to 64 characters)
    the count and the first record index, most frequent first."""
    return fetch_frame(
        con,
        "SELECT left(wnid, 64) AS wnid, count(*) AS n, min(idx) AS first_index "
        "FROM _caption_stage s WHERE wnid_kind = 'string' "
        "AND wnid NOT IN (SELECT wnid FROM classes) AND idx NOT IN "
        "(SELECT idx FROM _caption_problems WHERE severity = 'invalid') "
        "GROUP BY 1 ORDER BY n DESC, wnid",
    )


def stage_clean_captions(
    con: duckdb.DuckDBPyConnection,
    *,
    max_title: int,
    max_description: int,
    max_tag: int,
    max_tags: int,
) -> int:
    """TEMP `_caption_clean`: the records to store (valid, known wnid), repaired. Returns rows."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _caption_clean AS
        SELECT filename, wnid,
            left(replace(coalesce(title, ''), chr(0), ''), {max_title}) AS title,
            left(replace(coalesce(description, ''), chr(0), ''), {max_description}) AS description,
            coalesce(list_transform(tags[1:{max_tags}],
                lambda t: left(replace(t, chr(0), ''), {max_tag})), [])::VARCHAR[] AS tags
        FROM _caption_stage
        WHERE idx NOT IN (SELECT idx FROM _caption_problems WHERE severity = 'invalid')
            AND wnid IN (SELECT wnid FROM classes)
        """
    )
    return int(fetch_value(con, "SELECT count(*) FROM _caption_clean"))


def stage_imagenet_x(con: duckdb.DuckDBPyConnection, paths: list[str], *, limit: int | None) -> int:
    """TEMP `_caption_clean` from ImageNet-X `*_top_factor.jsonl` files: class index -> wnid by
    the catalog's `class_index`; title = justification, tags = [one_word] (trimmed, non-empty).
    Rows whose class index is not in the catalog are skipped. Returns rows staged."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _caption_clean AS
        SELECT x.file_name AS filename, c.wnid, trim(coalesce(x.justification, '')) AS title,
            '' AS description,
            CASE WHEN trim(coalesce(x.one_word, '')) = '' THEN []
                ELSE [trim(x.one_word)] END::VARCHAR[] AS tags
        FROM read_json(?, format = 'newline_delimited', columns = {
            'file_name': 'VARCHAR', 'class': 'INTEGER', 'justification': 'VARCHAR',
            'one_word': 'VARCHAR'}) x
        JOIN classes c ON c.class_index = x."class"
        ORDER BY x.file_name LIMIT ?
        """,
        [paths, limit if limit is not None else 2**62],
    )
    return int(fetch_value(con, "SELECT count(*) FROM _caption_clean"))
