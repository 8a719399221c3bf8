"""SQL for head synthesis: class texts, text-statistics builds, added classes, synthesized heads.

Reads `captions`, `active_descriptions` and `classes` directly (read-only); writes only the
tables of migration 0002.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from db.sql import fetch_frame, fetch_row, fetch_value

# One example per caption record (title, description, tags joined with spaces) and one per
# active description, for the base (ImageNet-1k) classes only.
_EXAMPLES_SQL = """
SELECT c.wnid, concat_ws(' ', c.title, c.description, array_to_string(c.tags, ' ')) AS text
FROM captions c JOIN classes k ON k.wnid = c.wnid AND k.class_index IS NOT NULL
UNION ALL
SELECT d.wnid, d.text FROM active_descriptions d
JOIN classes k ON k.wnid = d.wnid AND k.class_index IS NOT NULL
"""


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One user action's writes: COMMIT at the end of the block, ROLLBACK on any error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def list_class_examples(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Frame `wnid`, `text`: every caption record and active description of the base classes."""
    return fetch_frame(con, _EXAMPLES_SQL)


def get_class_texts(con: duckdb.DuckDBPyConnection, wnid: str, *, limit: int = 20) -> dict:
    """A class's active description (or None) and up to `limit` caption texts."""
    desc = fetch_value(con, "SELECT text FROM active_descriptions WHERE wnid = ?", [wnid])
    rows = con.execute(
        "SELECT concat_ws(' ', title, description, array_to_string(tags, ' ')) FROM captions "
        "WHERE wnid = ? ORDER BY caption_id LIMIT ?",
        [wnid, limit],
    ).fetchall()
    return {"description": desc, "captions": [r[0] for r in rows]}


def compute_examples_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """A hash of every input of the text statistics (changes when a caption or description does)."""
    row = fetch_row(
        con,
        "SELECT count(*), coalesce(sum(hash(wnid, text)), 0), "
        "coalesce(bit_xor(hash(wnid, text)), 0) "
        f"FROM ({_EXAMPLES_SQL})",
    )
    return f"{row[0]}-{int(row[1]) & 0xFFFFFFFFFFFFFFFF:016x}-{int(row[2]):016x}"


def get_current_build(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The newest text-statistics build as a dict, or None."""
    cur = con.execute(
        "SELECT build_id, fingerprint, params_json, n_classes, n_tokens, n_examples, "
        "build_seconds, built_at FROM text_stat_builds ORDER BY build_id DESC LIMIT 1"
    )
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    return dict(zip(names, rows[0], strict=True)) if rows else None


def insert_text_stats(
    con: duckdb.DuckDBPyConnection,
    *,
    fingerprint: str,
    params: dict,
    classes: pl.DataFrame,
    vocab: pl.DataFrame,
    values: pl.DataFrame,
    build_seconds: float,
) -> int:
    """Store a build in one transaction, replacing older builds. Returns the build id.

    Args:
        classes: `row_id`, `wnid`, `n_examples`.
        vocab: `token_id`, `token`, `n_classes`.
        values: `row_id`, `token_id`, `value`.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        build_id = int(
            fetch_value(
                con,
                "INSERT INTO text_stat_builds (fingerprint, params_json, n_classes, n_tokens, "
                "n_examples, build_seconds) VALUES (?, ?, ?, ?, ?, ?) RETURNING build_id",
                [
                    fingerprint,
                    json.dumps(params, sort_keys=True),
                    classes.height,
                    vocab.height,
                    int(classes["n_examples"].sum()),
                    build_seconds,
                ],
            )
        )
        for table, frame, cols in (
            ("text_stat_classes", classes, "row_id, wnid, n_examples"),
            ("text_stat_vocab", vocab, "token_id, token, n_classes"),
            ("text_stat_values", values, "row_id, token_id, value"),
        ):
            _insert_frame(con, table, frame, cols, build_id)
        for table in (
            "text_stat_values",
            "text_stat_vocab",
            "text_stat_classes",
            "text_stat_builds",
        ):
            con.execute(f"DELETE FROM {table} WHERE build_id < ?", [build_id])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return build_id


def _insert_frame(con, table: str, frame: pl.DataFrame, cols: str, build_id: int) -> None:
    con.register("_ext_frame", frame.to_arrow())
    try:
        con.execute(
            f"INSERT INTO {table} (build_id, {cols}) SELECT ?, {cols} FROM _ext_frame", [build_id]
        )
    finally:
        con.unregister("_ext_frame")


def load_build_frames(con: duckdb.DuckDBPyConnection, build_id: int) -> dict[str, pl.DataFrame]:
    """The classes, vocab and values frames of a build, in row/token order."""
    return {
        "classes": fetch_frame(
            con,
            "SELECT row_id, wnid, n_examples FROM text_stat_classes WHERE build_id = ? "
            "ORDER BY row_id",
            [build_id],
        ),
        "vocab": fetch_frame(
            con,
            "SELECT token_id, token, n_classes FROM text_stat_vocab WHERE build_id = ? "
            "ORDER BY token_id",
            [build_id],
        ),
        "values": fetch_frame(
            con,
            "SELECT row_id, token_id, value FROM text_stat_values WHERE build_id = ? "
            "ORDER BY row_id, token_id",
            [build_id],
        ),
    }


def get_database_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file of the connection's current database, or None for ':memory:'."""
    path = fetch_value(
        con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    )
    return Path(path) if path else None


def get_added_class(con: duckdb.DuckDBPyConnection, wnid: str) -> dict | None:
    """One added class as a dict, or None."""
    cur = con.execute("SELECT * FROM added_classes WHERE wnid = ?", [wnid])
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    return dict(zip(names, rows[0], strict=True)) if rows else None


def list_added_classes(
    con: duckdb.DuckDBPyConnection, *, status: str | None = None
) -> pl.DataFrame:
    """Added classes (optionally of one status), oldest first."""
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    return fetch_frame(
        con,
        "SELECT wnid, name, status, n_tokens, created_by, created_at, kept_at FROM added_classes "
        f"{where} ORDER BY created_at, wnid",
        params,
    )


def insert_added_class(con: duckdb.DuckDBPyConnection, row: dict, heads: list[dict]) -> None:
    """Insert a draft class and its head rows (the caller holds the transaction)."""
    con.execute(
        "INSERT INTO added_classes (wnid, name, description, texts_json, texts_sha256, spec_json, "
        "text_build_id, text_fingerprint, n_tokens, status, created_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?)",
        [
            row["wnid"],
            row["name"],
            row["description"],
            row["texts_json"],
            row["texts_sha256"],
            row["spec_json"],
            row["text_build_id"],
            row["text_fingerprint"],
            row["n_tokens"],
            row["created_by"],
        ],
    )
    for head in heads:
        con.execute(
            "INSERT INTO synthesized_heads (wnid, method_label, spec_json, model_key, model_json, "
            "path, sha256, row_norm, bias, is_primary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                row["wnid"],
                head["method_label"],
                head["spec_json"],
                head["model_key"],
                head["model_json"],
                head["path"],
                head["sha256"],
                head["row_norm"],
                head["bias"],
                head["is_primary"],
            ],
        )


def list_synthesized_heads(
    con: duckdb.DuckDBPyConnection, *, wnid: str | None = None
) -> pl.DataFrame:
    """Head rows (all, or of one class), by class then id."""
    where, params = ("WHERE wnid = ?", [wnid]) if wnid else ("", [])
    return fetch_frame(
        con,
        "SELECT head_id, wnid, method_label, spec_json, model_key, model_json, path, sha256, "
        f"row_norm, bias, is_primary, created_at FROM synthesized_heads {where} "
        "ORDER BY wnid, head_id",
        params,
    )


def update_added_class_kept(con: duckdb.DuckDBPyConnection, wnid: str, primary_label: str) -> None:
    """Mark a draft as kept with one primary head row (the caller holds the transaction)."""
    con.execute(
        "UPDATE added_classes SET status = 'kept', kept_at = current_timestamp WHERE wnid = ?",
        [wnid],
    )
    con.execute(
        "UPDATE synthesized_heads SET is_primary = (method_label = ?) WHERE wnid = ?",
        [primary_label, wnid],
    )


def delete_added_class(con: duckdb.DuckDBPyConnection, wnid: str) -> list[str]:
    """Delete a draft/kept added class, its head rows and its catalog entry (added classes only).

    Returns:
        The head files it referenced (for the caller to remove after COMMIT).
    """
    paths = [
        r[0]
        for r in con.execute("SELECT path FROM synthesized_heads WHERE wnid = ?", [wnid]).fetchall()
    ]
    con.execute("DELETE FROM synthesized_heads WHERE wnid = ?", [wnid])
    con.execute("DELETE FROM added_classes WHERE wnid = ?", [wnid])
    con.execute("DELETE FROM classes WHERE wnid = ? AND class_index IS NULL", [wnid])
    return paths
