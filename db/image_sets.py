"""SQL for registered image sets: items, embedding state per model, unreadable images."""

from __future__ import annotations

import duckdb
import polars as pl

from db.sql import fetch_dict, fetch_frame, fetch_row, fetch_value, registered, transaction

ITEM_SCHEMA = {
    "item_idx": pl.Int64,
    "path": pl.Utf8,
    "wnid": pl.Utf8,
    "sha256": pl.Utf8,
    "size_bytes": pl.Int64,
}


def insert_image_set(
    con: duckdb.DuckDBPyConnection,
    *,
    name: str,
    kind: str,
    root: str,
    items: pl.DataFrame,
    created_by: str,
) -> int:
    """Store a set and its items in one transaction. Returns the set id.

    Args:
        items: rows (item_idx, path, wnid, sha256, size_bytes).
    """
    frame = items.select(list(ITEM_SCHEMA)).cast(ITEM_SCHEMA)

    def work(tx: duckdb.DuckDBPyConnection) -> int:
        set_id = int(
            fetch_value(
                tx,
                "INSERT INTO image_sets (name, kind, root, n_items, n_classes, created_by) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING set_id",
                [name, kind, root, frame.height, frame["wnid"].n_unique(), created_by],
            )
        )
        with registered(tx, "_new_items", frame):
            tx.execute(
                "INSERT INTO image_set_items SELECT ?, item_idx, path, wnid, sha256, size_bytes "
                "FROM _new_items",
                [set_id],
            )
        return set_id

    return transaction(con, work)


def get_image_set(con: duckdb.DuckDBPyConnection, set_id: int) -> dict | None:
    """One set's row as a dict, or None."""
    return fetch_dict(con, "SELECT * FROM image_sets WHERE set_id = ?", [set_id])


def get_image_set_id(con: duckdb.DuckDBPyConnection, name: str) -> int | None:
    """The id of the set with this name, or None."""
    value = fetch_value(con, "SELECT set_id FROM image_sets WHERE name = ?", [name])
    return None if value is None else int(value)


def list_image_sets(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every set with its embedding state per model (one row per set and model; model null
    when never embedded), newest first."""
    return fetch_frame(
        con,
        "SELECT s.set_id, s.name, s.kind, s.root, s.n_items, s.n_classes, s.created_at, "
        "e.model_key, e.status, e.n_embedded, e.n_failed FROM image_sets s "
        "LEFT JOIN image_set_embeddings e USING (set_id) ORDER BY s.set_id DESC, e.model_key",
    )


def list_image_set_items(con: duckdb.DuckDBPyConnection, set_id: int) -> pl.DataFrame:
    """Items of a set in item order: (item_idx, path, wnid, sha256, size_bytes)."""
    return fetch_frame(
        con,
        "SELECT item_idx, path, wnid, sha256, size_bytes FROM image_set_items "
        "WHERE set_id = ? ORDER BY item_idx",
        [set_id],
    )


def list_image_set_classes(con: duckdb.DuckDBPyConnection, set_id: int) -> pl.DataFrame:
    """(wnid, name, n_images) of a set; name from the catalog when the class is known."""
    return fetch_frame(
        con,
        "SELECT i.wnid, coalesce(c.name, i.wnid) AS name, count(*) AS n_images "
        "FROM image_set_items i LEFT JOIN classes c USING (wnid) WHERE i.set_id = ? "
        "GROUP BY ALL ORDER BY i.wnid",
        [set_id],
    )


def update_embedding_state(
    con: duckdb.DuckDBPyConnection,
    set_id: int,
    model_key: str,
    *,
    n_embedded: int,
    errors: dict[int, str],
    complete: bool,
) -> None:
    """Record the outcome of an embedding job: the state under `model_key` and the set's
    unreadable images (replacing earlier ones), in one transaction."""

    def work(tx: duckdb.DuckDBPyConnection) -> None:
        tx.execute("DELETE FROM image_item_errors WHERE set_id = ?", [set_id])
        for item_idx, error in errors.items():
            tx.execute(
                "INSERT INTO image_item_errors (set_id, item_idx, error) VALUES (?, ?, ?)",
                [set_id, item_idx, error],
            )
        tx.execute(
            "INSERT OR REPLACE INTO image_set_embeddings "
            "(set_id, model_key, status, n_embedded, n_failed, updated_at) "
            "VALUES (?, ?, ?, ?, ?, current_timestamp)",
            [set_id, model_key, "complete" if complete else "partial", n_embedded, len(errors)],
        )

    transaction(con, work)


def list_image_errors(con: duckdb.DuckDBPyConnection, set_id: int) -> pl.DataFrame:
    """Unreadable images of a set: (item_idx, path, wnid, error)."""
    return fetch_frame(
        con,
        "SELECT e.item_idx, i.path, i.wnid, e.error FROM image_item_errors e "
        "JOIN image_set_items i USING (set_id, item_idx) WHERE e.set_id = ? ORDER BY e.item_idx",
        [set_id],
    )


def get_embedding_state(con: duckdb.DuckDBPyConnection, set_id: int, model_key: str) -> dict | None:
    """(status, n_embedded, n_failed) of a set under a model, or None when never embedded."""
    row = fetch_row(
        con,
        "SELECT status, n_embedded, n_failed FROM image_set_embeddings WHERE set_id = ? AND "
        "model_key = ?",
        [set_id, model_key],
    )
    return None if row is None else {"status": row[0], "n_embedded": row[1], "n_failed": row[2]}
