"""Export the curated caption set of one model version, with that version's thresholds.

Writes into a new folder (default: under the storage root's exports/; never into a folder
with content, see `contract.storage.new_output_folder`) and, for a download, the same files
(only those) as one zip:
- `captions.parquet`: every scored caption with its fields, its class (`wnid` =
  `curated_wnid`, a curator's relabel or else the original) and `original_wnid`, P(own), mean
  P, the suggested class with its P and share (how sure), `suspect_wrong_class` and
  `suspect_no_content` (higher = more suspect, comparable across classes), cleanlab's
  `label_issue` flag, whether the score is out of sample, threshold, the model's and the final
  decision, who decided (model or human, with the reason), the raw and the uniform
  coefficient, and the model version;
- `class_descriptions.parquet`: per class the description sentences the model was trained on,
  the description revision they came from, and the active description now with its revision
  (the card names the classes whose description changed since training);
- `DATASET_CARD.md`: what it is, the rules, the counts, and the licenses of the text sources.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

from contract.files import compute_files_zip
from contract.storage import (
    check_output_folder,
    compute_new_folder_name,
    list_folder_files,
    new_output_folder,
)
from curation.relevance import checkpoint as ckpt
from curation.relevance.decisions import get_drop_rule, get_thresholds
from curation.relevance.rules import compute_decisions
from db import relevance as relevance_db
from db import relevance_scores as scores_db
from db.classes import list_classes, list_sources
from db.storage import get_storage

# The files an export writes: the download zips these and nothing else.
EXPORT_FILES = ("captions.parquet", "class_descriptions.parquet", "DATASET_CARD.md")

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
    rule = get_drop_rule(con, model_version)
    stored, per_class = get_thresholds(con, model_version, rule=rule)
    overall = stored if threshold is None else threshold
    return compute_decisions(scored, threshold=overall, class_thresholds=per_class, rule=rule)


def export_curated_set(
    con: duckdb.DuckDBPyConnection,
    *,
    model_version: int,
    out_dir: str | Path = "",
    threshold: float | None = None,
    kept_only: bool = False,
) -> dict:
    """Write the curated set, the class descriptions used and a dataset card, into a new folder.

    Args:
        out_dir: '' = a new folder `relevance-v<version>-<time>` under the storage root's
            exports/; else a path that does not exist yet (or an empty folder).
        threshold: None = the version's stored global threshold (see `get_decided_captions`).
        kept_only: write only captions whose final decision is 'keep'.

    Returns:
        `path` (the folder), `files` (names written), paths written and counts (n_rows,
        n_kept, n_dropped, n_human).

    Raises:
        ValueError: unknown model version, or one with no scores yet.
        contract.storage.OutputFolderError: `out_dir` exists with content (nothing written).
    """
    out = (
        check_output_folder(out_dir)
        if str(out_dir)
        else compute_new_folder_name(get_storage(con).exports, f"relevance-v{model_version}")
    )
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
    rows = decided.filter(pl.col("decision") == "keep") if kept_only else decided
    classes = _class_descriptions(con, version)
    counts = {
        "n_rows": rows.height,
        "n_kept": int((decided["decision"] == "keep").sum()),
        "n_dropped": int((decided["decision"] == "drop").sum()),
        "n_human": int((decided["decided_by"] == "human").sum()),
    }
    used = set(decided["source"].to_list()) | set(classes["description_source"].drop_nulls())
    overall = get_thresholds(con, model_version)[0] if threshold is None else threshold
    card = compute_dataset_card(
        con,
        version,
        counts,
        threshold=overall,
        kept_only=kept_only,
        used_sources=used,
        description_note=compute_description_note(classes),
    )
    with new_output_folder(out) as tmp:
        rows.write_parquet(tmp / "captions.parquet")
        classes.write_parquet(tmp / "class_descriptions.parquet")
        (tmp / "DATASET_CARD.md").write_text(card, encoding="utf-8")
        files = list_folder_files(tmp)
    return {
        **counts,
        "path": str(out),
        "files": files,
        "captions": str(out / "captions.parquet"),
        "class_descriptions": str(out / "class_descriptions.parquet"),
        "card": str(out / "DATASET_CARD.md"),
    }


def _class_descriptions(con: duckdb.DuckDBPyConnection, version: dict) -> pl.DataFrame:
    """wnid, name, sentences (as trained, from the checkpoint) and `sentences_revision` (the
    description revision they came from; null for a model trained before revisions were
    recorded), the current active text and `active_revision`."""
    meta = ckpt.load_run_meta(version["run"]["checkpoint_dir"]) or {}
    sentences = meta.get("sentences", {})
    revisions = meta.get("description_revisions", {})
    wnids = version["run"]["class_wnids"]
    active = relevance_db.list_active_description_texts(con)
    names = list_classes(con).select("wnid", "name")
    frame = pl.DataFrame(
        {
            "wnid": wnids,
            "sentences": [sentences.get(w, []) for w in wnids],
            "sentences_revision": [revisions.get(w) for w in wnids],
        },
        schema={"wnid": pl.Utf8, "sentences": pl.List(pl.Utf8), "sentences_revision": pl.Int64},
    )
    return frame.join(names, on="wnid", how="left").join(
        active.rename(
            {
                "source": "description_source",
                "text": "active_description",
                "revision": "active_revision",
            }
        ),
        on="wnid",
        how="left",
    )


def compute_description_note(classes: pl.DataFrame) -> list[str]:
    """The dataset card's lines on which description revision the sentences came from."""
    lines = [
        "- `class_descriptions.parquet`: `sentences` are the leading sentences of each class's "
        "description as the model was trained on them (revision `sentences_revision`); "
        "`active_description` is the description now (revision `active_revision`)"
    ]
    unknown = classes.filter(pl.col("sentences_revision").is_null()).height
    moved = classes.filter(
        pl.col("sentences_revision").is_not_null()
        & pl.col("active_revision").is_not_null()
        & (pl.col("sentences_revision") != pl.col("active_revision"))
    )
    if moved.height:
        examples = ", ".join(
            f"{w} (trained on revision {a}, now {b})"
            for w, a, b in moved.select("wnid", "sentences_revision", "active_revision")
            .head(5)
            .iter_rows()
        )
        lines.append(
            f"- the description of {moved.height} class(es) changed since training, so their "
            f"`sentences` and `active_description` differ: {examples}"
        )
    if unknown:
        lines.append(
            f"- {unknown} class(es) have no `sentences_revision`: the model was trained before "
            "revisions were recorded"
        )
    return lines


def _describe_drop_rule(rule: str, threshold: float, per_class: dict) -> str:
    """The card's line for the version's drop rule."""
    own = f"(classes with their own threshold: {len(per_class)})"
    if rule == "suspect":
        return (
            "- drop rule 'suspect': drop when max(suspect_wrong_class, suspect_no_content) >= "
            f"{threshold} {own}"
        )
    return (
        "- drop rule 'paper' (the paper's): drop when P(own class) < mean P over classes, or "
        f"P < {threshold} {own}"
    )


def compute_dataset_card(
    con,
    version: dict,
    counts: dict,
    *,
    threshold: float,
    kept_only: bool,
    used_sources: set,
    description_note: list[str] = (),
) -> str:
    """A short markdown dataset card (model, rules, counts, class descriptions, the used
    sources' licenses)."""
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
        _describe_drop_rule(get_drop_rule(con, version["model_version"]), threshold, per_class),
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
        "## Class descriptions",
        *description_note,
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


def list_curated_exports(con: duckdb.DuckDBPyConnection, model_version: int) -> list[Path]:
    """This version's complete export folders under the storage root's exports/, newest first."""
    exports = get_storage(con).exports
    if not exports.is_dir():
        return []
    found = [
        p
        for p in exports.glob(f"relevance-v{model_version}-*")
        if p.is_dir() and not p.is_symlink() and (p / EXPORT_FILES[0]).is_file()
    ]
    return sorted(found, key=lambda p: p.name, reverse=True)


def compute_export_zip(folder: str | Path) -> bytes:
    """An export folder's own files (`EXPORT_FILES`, those present) as zip bytes."""
    folder = Path(folder)
    return compute_files_zip(folder, [n for n in EXPORT_FILES if (folder / n).is_file()])
