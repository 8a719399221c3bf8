"""Export the curated caption set of one model version, with that version's thresholds.

Writes into a folder (and, for a download, the same files as one zip):
- `captions.parquet`: every scored caption with its fields, its class (`wnid` =
  `curated_wnid`, a curator's relabel or else the original) and `original_wnid`, P(own), mean
  P, the suggested class with its P and share (how sure), `suspect_wrong_class` and
  `suspect_no_content` (higher = more suspect, comparable across classes), cleanlab's
  `label_issue` flag, whether the score is out of sample, threshold, the model's and the final
  decision, who decided (model or human, with the reason), the raw and the uniform
  coefficient, and the model version;
- `class_descriptions.parquet`: per class the description sentences the model was trained on;
- `DATASET_CARD.md`: what it is, the rules, the counts, and the licenses of the text sources.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
import zipfile
from pathlib import Path

import duckdb
import polars as pl

from curation.relevance import checkpoint as ckpt
from curation.relevance.decisions import get_thresholds
from curation.relevance.rules import compute_decisions
from db import relevance as relevance_db
from db import relevance_scores as scores_db
from db.classes import list_classes, list_sources

CAPTION_COLUMNS = (
    "caption_id",
    "source",
    "filename",
    "wnid",
    "original_wnid",
    "curated_wnid",
    "title",
    "description",
    "tags",
    "p_own",
    "p_mean",
    "suggested_wnid",
    "p_suggested",
    "suggested_share",
    "suspect_wrong_class",
    "suspect_no_content",
    "label_issue",
    "out_of_sample",
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
    con: duckdb.DuckDBPyConnection, model_version: int, *, threshold: float | None = None
) -> pl.DataFrame:
    """Scored captions of a model version with the rules, the version's thresholds and human
    decisions applied (see `rules.compute_decisions`).

    Args:
        threshold: a global threshold to try instead of the version's stored one (None =
            the stored one, 0.5 when never set); per-class thresholds always apply.
    """
    scored = scores_db.list_scored_captions(con, model_version)
    stored, per_class = get_thresholds(con, model_version)
    overall = stored if threshold is None else threshold
    return compute_decisions(scored, threshold=overall, class_thresholds=per_class)


def export_curated_set(
    con: duckdb.DuckDBPyConnection,
    *,
    model_version: int,
    out_dir: str | Path,
    threshold: float | None = None,
    kept_only: bool = False,
) -> dict:
    """Write the curated set, the class descriptions used and a dataset card.

    Args:
        threshold: None = the version's stored global threshold (see `get_decided_captions`).
        kept_only: write only captions whose final decision is 'keep'.

    Returns:
        Paths written and counts (n_rows, n_kept, n_dropped, n_human).

    Raises:
        ValueError: unknown model version, or one with no scores yet.
    """
    version = relevance_db.get_model_version(con, model_version)
    if version is None:
        raise ValueError(f"model version {model_version} does not exist")
    if scores_db.count_scores(con, model_version) == 0:
        raise ValueError(f"model version {model_version} has scored no captions yet: score first")
    decided = (
        get_decided_captions(con, model_version, threshold=threshold)
        .with_columns(
            pl.lit(model_version, pl.Int64).alias("model_version"),
            pl.col("wnid").alias("curated_wnid"),
        )
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
    overall = get_thresholds(con, model_version)[0] if threshold is None else threshold
    card = compute_dataset_card(
        con, version, counts, threshold=overall, kept_only=kept_only, used_sources=used
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
    per_class = get_thresholds(con, version["model_version"])[1]
    oos = _describe_out_of_sample(run)
    lines = [
        "# Curated captions (relevance-filtered)",
        "",
        f"Exported {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by the ImageNet curation "
        "workbench.",
        "",
        "## Model",
        f"- model version {version['model_version']}: run {run['run_id']} ({run['name']}), "
        f"epoch {version['epoch']}, encoder `{run['encoder']}`, {len(run['class_wnids'])} classes",
        f"- mode {run['mode']}; {oos}",
        f"- top-1 accuracy of the own class (out of sample): {version['test_accuracy']:.4f}; "
        f"weights sha256 `{version['sha256']}`",
        "",
        "## Rules",
        f"- drop when P(own class) < mean P over classes, or P < {threshold} "
        f"(classes with their own threshold: {len(per_class)})",
        "- kept: raw coefficient r = 1 if P >= 0.9 else P + 0.1; coefficient = empirical CDF of r "
        "over kept captions (#{r_j <= r_i} / n_kept), uniform on (0, 1]",
        "- a person's keep/drop (with a reason) overrides the rules; a caption a person moved "
        "to another class has `curated_wnid` != `original_wnid`",
        "- suspect_wrong_class / suspect_no_content: higher = more suspect (0..1), from the "
        "out-of-sample probabilities with cleanlab's label-quality scores (issues.py); "
        "label_issue: cleanlab's find_label_issues(confident_learning)",
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


def _describe_out_of_sample(run: dict) -> str:
    if run["mode"] == "frozen":
        folds = run["spec"].get("head", {}).get("folds", "K")
        return (
            f"scores are out of sample: {folds}-fold cross-fitting on frozen encoder features "
            "(each caption scored by the head that did not train on it)"
        )
    return "scores of test-split captions are out of sample; training captions are not"


def export_curated_zip(
    con: duckdb.DuckDBPyConnection,
    *,
    model_version: int,
    threshold: float | None = None,
    kept_only: bool = False,
) -> tuple[bytes, dict]:
    """The curated set as one zip (for a download): the files `export_curated_set` writes.

    Returns:
        (zip bytes, the export's counts).
    """
    with tempfile.TemporaryDirectory(prefix="relevance-export-") as tmp:
        result = export_curated_set(
            con, model_version=model_version, out_dir=tmp, threshold=threshold, kept_only=kept_only
        )
        return compute_folder_zip(Path(tmp)), result


def compute_folder_zip(folder: Path) -> bytes:
    """The files of a folder (not recursive) as zip bytes, names relative to it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(Path(folder).iterdir()):
            if path.is_file():
                archive.write(path, arcname=path.name)
    return buffer.getvalue()
