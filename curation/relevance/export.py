"""Export the curated caption set of one model version.

Writes into a folder:
- `captions.parquet`: every scored caption with its fields, P(own), mean P, threshold, the
  model's and the final decision, who decided (model or human, with the reason), the raw and
  the uniform coefficient, and the model version;
- `class_descriptions.parquet`: per class the description sentences the model was trained on;
- `DATASET_CARD.md`: what it is, the rules, the counts, and the licenses of the text sources.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

from curation.relevance import checkpoint as ckpt
from curation.relevance.rules import GLOBAL_THRESHOLD, compute_decisions
from db import relevance as relevance_db
from db import relevance_decisions as decision_db
from db.classes import list_classes, list_sources

CAPTION_COLUMNS = (
    "caption_id",
    "source",
    "filename",
    "wnid",
    "title",
    "description",
    "tags",
    "p_own",
    "p_mean",
    "threshold",
    "model_decision",
    "decision",
    "decided_by",
    "human_reason",
    "raw_coefficient",
    "coefficient",
    "model_version",
)


def get_decided_captions(
    con: duckdb.DuckDBPyConnection, model_version: int, *, threshold: float = GLOBAL_THRESHOLD
) -> pl.DataFrame:
    """Scored captions of a model version with the rules, per-class thresholds and human
    decisions applied (see `rules.compute_decisions`)."""
    scored = relevance_db.list_scored_captions(con, model_version)
    thresholds = decision_db.list_class_thresholds(con)
    per_class = dict(
        zip(thresholds["wnid"].to_list(), thresholds["threshold"].to_list(), strict=True)
    )
    return compute_decisions(scored, threshold=threshold, class_thresholds=per_class)


def export_curated_set(
    con: duckdb.DuckDBPyConnection,
    *,
    model_version: int,
    out_dir: str | Path,
    threshold: float = GLOBAL_THRESHOLD,
    kept_only: bool = False,
) -> dict:
    """Write the curated set, the class descriptions used and a dataset card.

    Args:
        kept_only: write only captions whose final decision is 'keep'.

    Returns:
        Paths written and counts (n_rows, n_kept, n_dropped, n_human).

    Raises:
        ValueError: unknown model version, or one with no scores yet.
    """
    version = relevance_db.get_model_version(con, model_version)
    if version is None:
        raise ValueError(f"model version {model_version} does not exist")
    if relevance_db.count_scores(con, model_version) == 0:
        raise ValueError(f"model version {model_version} has scored no captions yet: score first")
    decided = (
        get_decided_captions(con, model_version, threshold=threshold)
        .with_columns(pl.lit(model_version, pl.Int64).alias("model_version"))
        .select(CAPTION_COLUMNS)
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = decided.filter(pl.col("decision") == "keep") if kept_only else decided
    rows.write_parquet(out / "captions.parquet")
    classes = _class_descriptions(con, version)
    classes.write_parquet(out / "class_descriptions.parquet")
    counts = {
        "n_rows": rows.height,
        "n_kept": int((decided["decision"] == "keep").sum()),
        "n_dropped": int((decided["decision"] == "drop").sum()),
        "n_human": int((decided["decided_by"] == "human").sum()),
    }
    used = set(decided["source"].to_list()) | set(classes["description_source"].drop_nulls())
    card = compute_dataset_card(
        con, version, counts, threshold=threshold, kept_only=kept_only, used_sources=used
    )
    (out / "DATASET_CARD.md").write_text(card, encoding="utf-8")
    return {
        **counts,
        "captions": str(out / "captions.parquet"),
        "class_descriptions": str(out / "class_descriptions.parquet"),
        "card": str(out / "DATASET_CARD.md"),
    }


def _class_descriptions(con: duckdb.DuckDBPyConnection, version: dict) -> pl.DataFrame:
    """wnid, name, sentences (as trained, from the checkpoint), current active text."""
    meta = ckpt.load_run_meta(version["run"]["checkpoint_dir"]) or {}
    sentences = meta.get("sentences", {})
    wnids = version["run"]["class_wnids"]
    active = relevance_db.list_active_description_texts(con)
    names = list_classes(con).select("wnid", "name")
    frame = pl.DataFrame(
        {"wnid": wnids, "sentences": [sentences.get(w, []) for w in wnids]},
        schema={"wnid": pl.Utf8, "sentences": pl.List(pl.Utf8)},
    )
    return frame.join(names, on="wnid", how="left").join(
        active.rename({"source": "description_source", "text": "active_description"}),
        on="wnid",
        how="left",
    )


def compute_dataset_card(
    con, version: dict, counts: dict, *, threshold: float, kept_only: bool, used_sources: set
) -> str:
    """A short markdown dataset card (model, rules, counts, the used sources' licenses)."""
    run = version["run"]
    held = "kept captions only" if kept_only else "all scored captions"
    sources = list_sources(con).filter(pl.col("source").is_in(sorted(used_sources)))
    thresholds = decision_db.list_class_thresholds(con)
    lines = [
        "# Curated captions (relevance-filtered)",
        "",
        f"Exported {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by the ImageNet curation "
        "workbench.",
        "",
        "## Model",
        f"- model version {version['model_version']}: run {run['run_id']} ({run['name']}), "
        f"epoch {version['epoch']}, encoder `{run['encoder']}`, {len(run['class_wnids'])} classes",
        f"- test top-1 accuracy of the own class: {version['test_accuracy']:.4f}; "
        f"weights sha256 `{version['sha256']}`",
        "",
        "## Rules",
        f"- drop when P(own class) < mean P over classes, or P < {threshold} "
        f"(classes with their own threshold: {thresholds.height})",
        "- kept: raw coefficient r = 1 if P >= 0.9 else P + 0.1; coefficient = empirical CDF of r "
        "over kept captions (#{r_j <= r_i} / n_kept), uniform on (0, 1]",
        "- a person's keep/drop (with a reason) overrides the rules",
        "",
        "## Counts",
        f"- kept {counts['n_kept']}, dropped {counts['n_dropped']}, decided by a person "
        f"{counts['n_human']}; the file holds {held} ({counts['n_rows']} rows)",
        "",
        "## Text sources and licenses",
        "",
        "| source | kind | title | license | attribution |",
        "|---|---|---|---|---|",
    ]
    for row in sources.iter_rows(named=True):
        cells = [row["source"], row["kind"], row["title"], row["license"], row["attribution"]]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    missing = sorted(used_sources - set(sources["source"].to_list()))
    if missing:
        lines.append(f"| {', '.join(missing)} | | not registered | unknown | |")
    lines += ["", "Check each source's license before redistributing its text.", ""]
    return "\n".join(lines)
