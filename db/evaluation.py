"""SQL for evaluation runs: the protocol's per-class metrics and scores, few-shot results."""

from __future__ import annotations

import json

import duckdb
import polars as pl

from contract.specs import check_choice
from db.sql import fetch_dict, fetch_frame, fetch_value, registered, transaction

RUN_KINDS = ("protocol", "fewshot")


def insert_eval_run(
    con: duckdb.DuckDBPyConnection,
    *,
    kind: str,
    name: str,
    image_set_id: int,
    model_key: str,
    spec_json: str,
    summary: dict,
    classes: pl.DataFrame,
    metrics: pl.DataFrame | None = None,
    scores: pl.DataFrame | None = None,
    fewshot: pl.DataFrame | None = None,
) -> int:
    """Store a whole run in one transaction. Returns its id.

    Args:
        classes: (wnid, name, row_source, n_pos, n_neg).
        metrics: (wnid, method, metric, value, ci_low, ci_high).
        scores: (wnid, method, set_id, item_idx, label, score, positive_rules).
        fewshot: (wnid, init, k, repeat_idx, metric, value).
    """
    check_choice("kind", kind, RUN_KINDS)

    def work(tx: duckdb.DuckDBPyConnection) -> int:
        run_id = int(
            fetch_value(
                tx,
                "INSERT INTO eval_runs (kind, name, image_set_id, model_key, spec_json, "
                "summary_json) VALUES (?, ?, ?, ?, ?, ?) RETURNING run_id",
                [
                    kind,
                    name,
                    image_set_id,
                    model_key,
                    spec_json,
                    json.dumps(summary, sort_keys=True),
                ],
            )
        )
        for table, frame in (
            ("eval_classes", classes),
            ("eval_metrics", metrics),
            ("eval_scores", scores),
            ("fewshot_results", fewshot),
        ):
            if frame is not None and frame.height:
                columns = ", ".join(frame.columns)  # the frame's own column names, not user text
                with registered(tx, "_eval_frame", frame):
                    tx.execute(
                        f"INSERT INTO {table} (run_id, {columns}) SELECT ?, {columns} "
                        "FROM _eval_frame",
                        [run_id],
                    )
        return run_id

    return transaction(con, work)


def list_eval_runs(con: duckdb.DuckDBPyConnection, *, kind: str | None = None) -> pl.DataFrame:
    """Runs, newest first: (run_id, kind, name, image_set_id, set_name, model_key, created_at)."""
    where, params = ("WHERE r.kind = ?", [kind]) if kind else ("", [])
    return fetch_frame(
        con,
        "SELECT r.run_id, r.kind, r.name, r.image_set_id, s.name AS set_name, r.model_key, "
        "r.created_at "
        f"FROM eval_runs r LEFT JOIN image_sets s ON s.set_id = r.image_set_id {where} "
        "ORDER BY r.run_id DESC",
        params,
    )


def get_eval_run(con: duckdb.DuckDBPyConnection, run_id: int) -> dict | None:
    """One run with `spec` and `summary` decoded, or None."""
    run = fetch_dict(con, "SELECT * FROM eval_runs WHERE run_id = ?", [run_id])
    if run is None:
        return None
    run["spec"] = json.loads(run.pop("spec_json"))
    run["summary"] = json.loads(run.pop("summary_json"))
    return run


def list_eval_classes(con: duckdb.DuckDBPyConnection, run_id: int) -> pl.DataFrame:
    """(wnid, name, row_source, n_pos, n_neg) of a run."""
    return fetch_frame(
        con,
        "SELECT wnid, name, row_source, n_pos, n_neg FROM eval_classes WHERE run_id = ? ORDER BY "
        "wnid",
        [run_id],
    )


def list_eval_metrics(con: duckdb.DuckDBPyConnection, run_ids: list[int]) -> pl.DataFrame:
    """Metrics of runs, with class names: (run_id, wnid, name, method, metric, value, ci_low,
    ci_high, n_pos, n_neg)."""
    return fetch_frame(
        con,
        "SELECT m.run_id, m.wnid, c.name, m.method, m.metric, m.value, m.ci_low, m.ci_high, "
        "c.n_pos, c.n_neg "
        "FROM eval_metrics m JOIN eval_classes c USING (run_id, wnid) WHERE list_contains(?, "
        "m.run_id) "
        "ORDER BY m.run_id, m.wnid, m.method, m.metric",
        [run_ids],
    )


def list_eval_scores(
    con: duckdb.DuckDBPyConnection, run_id: int, *, wnid: str, methods: list[str] | None = None
) -> pl.DataFrame:
    """Per-image scores of one class in a run.

    Returns:
        (method, set_id, item_idx, label, score, positive_rules).
    """
    method_filter = "AND list_contains(?, method)" if methods else ""
    return fetch_frame(
        con,
        "SELECT method, set_id, item_idx, label, score, positive_rules FROM eval_scores "
        f"WHERE run_id = ? AND wnid = ? {method_filter} ORDER BY method, set_id, item_idx",
        [run_id, wnid, *([methods] if methods else [])],
    )


def list_fewshot_results(con: duckdb.DuckDBPyConnection, run_id: int) -> pl.DataFrame:
    """Few-shot rows of a run: (wnid, name, init, k, repeat_idx, metric, value)."""
    return fetch_frame(
        con,
        "SELECT f.wnid, coalesce(c.name, f.wnid) AS name, f.init, f.k, f.repeat_idx, f.metric, "
        "f.value "
        "FROM fewshot_results f LEFT JOIN eval_classes c USING (run_id, wnid) WHERE f.run_id = ? "
        "ORDER BY f.wnid, f.init, f.k, f.repeat_idx, f.metric",
        [run_id],
    )
