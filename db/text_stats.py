"""SQL for the class text statistics: the texts they are built from, and stored builds.

Reads `captions`, `active_descriptions`, `descriptions` and `classes` directly (read-only);
writes only the `text_stat_*` tables of migration 0002.
"""

from __future__ import annotations

import json

import duckdb
import polars as pl

from db.sql import fetch_dict, fetch_frame, fetch_row, fetch_value, registered, transaction

# One example per caption record (title, description, tags joined with spaces), and one class
# text per base (ImageNet-1k) class that has a description: its lemmas, its active description,
# then every other stored description of it (WordNet gloss, Wiktionary, GPT, ...; shortest
# first, so the sentence encoder's 128 tokens keep the definitions), each text once.
_EXAMPLES_SQL = """
SELECT c.wnid, concat_ws(' ', c.title, c.description, array_to_string(c.tags, ' ')) AS text,
    false AS is_description
FROM captions c JOIN classes k ON k.wnid = c.wnid AND k.class_index IS NOT NULL
UNION ALL
SELECT k.wnid, concat_ws(' ', k.lemmas || '.', rtrim(a.text, '. ') || '.', (
        SELECT string_agg(rtrim(d.text, '. ') || '.', ' ' ORDER BY length(d.text), d.source)
        FROM descriptions d WHERE d.wnid = k.wnid AND d.text IS DISTINCT FROM a.text)), true
FROM classes k LEFT JOIN active_descriptions a ON a.wnid = k.wnid
WHERE k.class_index IS NOT NULL
    AND (a.wnid IS NOT NULL OR EXISTS (SELECT 1 FROM descriptions d WHERE d.wnid = k.wnid))
"""


def list_class_examples(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Frame `wnid`, `text`, `is_description`: every caption record of the base classes and
    each one's class text (lemmas, active description, the other stored descriptions)."""
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
    return fetch_dict(
        con,
        "SELECT build_id, fingerprint, params_json, n_classes, n_tokens, n_examples, "
        "build_seconds, built_at FROM text_stat_builds ORDER BY build_id DESC LIMIT 1",
    )


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

    def work(tx: duckdb.DuckDBPyConnection) -> int:
        build_id = int(
            fetch_value(
                tx,
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
            with registered(tx, "_text_stat_frame", frame):
                # `table` and `cols` are the constants above, never user text.
                tx.execute(
                    f"INSERT INTO {table} (build_id, {cols}) "
                    f"SELECT ?, {cols} FROM _text_stat_frame",
                    [build_id],
                )
        for table in (
            "text_stat_values",
            "text_stat_vocab",
            "text_stat_classes",
            "text_stat_builds",
        ):
            tx.execute(f"DELETE FROM {table} WHERE build_id < ?", [build_id])
        return build_id

    return transaction(con, work)


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
