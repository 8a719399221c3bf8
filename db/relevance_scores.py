"""SQL for relevance scores: the model's output per (caption, model version), and scoring runs.

A score row says P(own class), the mean P over classes, the class the model suggests (its
argmax) with its P, and whether the caption was scored out of sample (by a model that did
not train on it). Human decisions are in `db/relevance_decisions.py` and never touched here.
"""

from __future__ import annotations

import json

import duckdb
import polars as pl

from db.sql import fetch_frame, fetch_value, registered, transaction

SCORE_SCHEMA = {
    "caption_id": pl.Int64,
    "p_own": pl.Float64,
    "p_mean": pl.Float64,
    "n_tokens": pl.Int32,
    "truncated": pl.Boolean,
    "suggested_wnid": pl.Utf8,
    "p_suggested": pl.Float64,
    "out_of_sample": pl.Boolean,
    "suspect_wrong_class": pl.Float64,
    "suspect_no_content": pl.Float64,
    "suggested_share": pl.Float64,
    "label_issue": pl.Boolean,
}
ISSUE_COLUMNS = ("suspect_wrong_class", "suspect_no_content", "suggested_share", "label_issue")


def insert_scores(
    con: duckdb.DuckDBPyConnection,
    *,
    model_version: int,
    scores: pl.DataFrame,
    spec: dict,
    report: dict,
) -> int:
    """Store (replacing) scores of one model version, and the scoring run, in one transaction.

    Human decisions are in their own table and are never touched here.

    Args:
        scores: columns caption_id, p_own, p_mean, n_tokens, truncated, suggested_wnid,
            p_suggested, out_of_sample; optionally suspect_wrong_class, suspect_no_content,
            suggested_share, label_issue (NULL when absent).

    Returns:
        The scoring run id.
    """
    missing = [c for c in ISSUE_COLUMNS if c not in scores.columns]
    scores = scores.with_columns(pl.lit(None).alias(c) for c in missing)
    frame = scores.select(list(SCORE_SCHEMA)).cast(SCORE_SCHEMA)

    def work(tx: duckdb.DuckDBPyConnection) -> int:
        with registered(tx, "_relevance_scores", frame):
            tx.execute(
                "DELETE FROM relevance_scores WHERE model_version = ? AND caption_id IN "
                "(SELECT caption_id FROM _relevance_scores)",
                [model_version],
            )
            tx.execute(
                "INSERT INTO relevance_scores (caption_id, model_version, p_own, p_mean, "
                "n_tokens, truncated, suggested_wnid, p_suggested, out_of_sample, "
                "suspect_wrong_class, suspect_no_content, suggested_share, label_issue) SELECT "
                "caption_id, ?, p_own, p_mean, n_tokens, truncated, suggested_wnid, "
                "p_suggested, out_of_sample, suspect_wrong_class, suspect_no_content, "
                "suggested_share, label_issue FROM _relevance_scores",
                [model_version],
            )
        return int(
            fetch_value(
                tx,
                "INSERT INTO relevance_scoring_runs (model_version, spec_json, report_json) "
                "VALUES (?, ?, ?) RETURNING scoring_id",
                [
                    model_version,
                    json.dumps(spec, sort_keys=True),
                    json.dumps(report, sort_keys=True),
                ],
            )
        )

    return transaction(con, work)


def list_scored_captions(
    con: duckdb.DuckDBPyConnection, model_version: int, *, wnid: str | None = None
) -> pl.DataFrame:
    """Scores of one model version joined with caption fields and the human decision.

    Columns: caption_id, source, filename, wnid (the caption's class now: a curator's relabel,
    else the original), original_wnid (as imported), relabelled, title, description, tags,
    p_own, p_mean, n_tokens, truncated, suggested_wnid, p_suggested, out_of_sample,
    suspect_wrong_class, suspect_no_content, suggested_share, label_issue, human_decision,
    human_reason (NULL when no person decided).
    """
    sql = (
        "SELECT c.caption_id, c.source, c.filename, coalesce(r.wnid, c.wnid) AS wnid, "
        "c.wnid AS original_wnid, r.wnid IS NOT NULL AS relabelled, c.title, c.description, "
        "c.tags, "
        "s.p_own, s.p_mean, s.n_tokens, s.truncated, s.suggested_wnid, s.p_suggested, "
        "s.out_of_sample, s.suspect_wrong_class, s.suspect_no_content, s.suggested_share, "
        "s.label_issue, d.decision AS human_decision, "
        "d.reason AS human_reason FROM relevance_scores s JOIN captions c USING (caption_id) "
        "LEFT JOIN relevance_decisions d USING (caption_id) "
        "LEFT JOIN relevance_relabels r USING (caption_id) WHERE s.model_version = ?"
    )
    params: list = [model_version]
    if wnid is not None:
        sql += " AND coalesce(r.wnid, c.wnid) = ?"
        params.append(wnid)
    return fetch_frame(con, sql + " ORDER BY c.caption_id", params)


def count_scores(con: duckdb.DuckDBPyConnection, model_version: int) -> int:
    """How many captions one model version has scored."""
    return int(
        fetch_value(
            con, "SELECT count(*) FROM relevance_scores WHERE model_version = ?", [model_version]
        )
    )


def list_scoring_runs(con: duckdb.DuckDBPyConnection, model_version: int) -> pl.DataFrame:
    """Scoring runs of one model version, newest first (spec and report as JSON strings)."""
    return fetch_frame(
        con,
        "SELECT scoring_id, at_time, spec_json, report_json FROM relevance_scoring_runs "
        "WHERE model_version = ? ORDER BY scoring_id DESC",
        [model_version],
    )
