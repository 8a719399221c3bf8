"""SQL for classes added from text (`added_classes`) and their synthesized head rows
(`synthesized_heads`, safetensors files referenced by path and sha256)."""

from __future__ import annotations

import duckdb
import polars as pl

from db.sql import fetch_dict, fetch_frame


def get_added_class(con: duckdb.DuckDBPyConnection, wnid: str) -> dict | None:
    """One added class as a dict, or None."""
    return fetch_dict(con, "SELECT * FROM added_classes WHERE wnid = ?", [wnid])


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
            "path, sha256, row_norm, bias, is_primary, calibration, calibration_set_id, "
            "calibration_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                head.get("calibration", "none"),
                head.get("calibration_set_id"),
                head.get("calibration_json"),
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
        "row_norm, bias, is_primary, calibration, calibration_set_id, calibration_json, "
        f"created_at FROM synthesized_heads {where} "
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


def list_class_heads(
    con: duckdb.DuckDBPyConnection, wnid: str, *, method_label: str, model_key: str
) -> list[tuple[str, str]]:
    """(path, sha256) of the synthesized rows of an added class for one method and base model,
    newest first."""
    frame = fetch_frame(
        con,
        "SELECT path, sha256 FROM synthesized_heads WHERE wnid = ? AND method_label = ? AND "
        "model_key = ? ORDER BY head_id DESC",
        [wnid, method_label, model_key],
    )
    return list(frame.iter_rows())
