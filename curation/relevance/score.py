"""Score captions with one model version: each caption alone (no class sentence) gives
P(own class), the mean probability over the classes, and the class the model ranks first
(the suggested class) with its P. Scores are stored per caption and model version with
whether each is out of sample: frozen mode scores every caption with a head that did not
train on it (cross-fitting); fine-tune mode's test-split captions (and captions outside its
dataset) are out of sample, its training captions are not. Decisions are derived from the
scores by `rules.py`, and a person's decision (own table) always wins, so rescoring never
overwrites it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from contract.devices import resolve_device
from contract.progress import Progress, no_progress
from curation.relevance import checkpoint as ckpt
from curation.relevance import class_names
from curation.relevance.batching import compute_caption_outputs
from curation.relevance.dataset import (
    apply_curation,
    check_caption_source,
    compute_caption_texts,
    compute_word_count,
)
from curation.relevance.model import compute_amp_dtype
from curation.relevance.rules import DEFAULT_THRESHOLDS, GLOBAL_THRESHOLD
from curation.relevance.specs import ScoringSpec
from db import classes as class_db
from db import relevance as relevance_db
from db import relevance_scores as scores_db
from db.storage import get_storage


def run_score_relevance(
    con: duckdb.DuckDBPyConnection,
    spec: ScoringSpec,
    progress: Progress | None = None,
) -> dict:
    """Score the captions of the model's classes and store the scores (one transaction).

    Returns:
        A report: mode, n_scored, n_out_of_sample, n_skipped_short, n_truncated,
        n_kept_by_model, n_suggested_other, scoring_id.

    Raises:
        ValueError: unknown model version or caption source, pruned weights, or wnids
            outside the class set.
    """
    if not isinstance(spec, ScoringSpec):
        raise ValueError(f"spec must be a ScoringSpec, got {type(spec).__name__}")
    progress = progress or no_progress
    version = _get_usable_version(con, spec.model_version)
    class_wnids = version["run"]["class_wnids"]
    outside = sorted(set(spec.wnids) - set(class_wnids))
    if outside:
        raise ValueError(
            f"classes {outside[:5]} are not in model version "
            f"{spec.model_version}'s class set ({len(class_wnids)} classes)"
        )
    check_caption_source(con, spec.source)
    records = relevance_db.list_caption_records(
        con, wnids=list(spec.wnids) or class_wnids, source=spec.source
    )
    # a relabelled caption is scored under its curated class (dropped ones are scored too)
    records = apply_curation(con, records, drop_dropped=False, class_wnids=class_wnids)
    scores, report = score_caption_records(
        version,
        records,
        spec,
        progress,
        cache_dir=get_storage(con).text_features,
        class_lemmas=class_db.get_class_lemmas(con, class_wnids),
    )
    report["scoring_id"] = scores_db.insert_scores(
        con, model_version=spec.model_version, scores=scores, spec=spec.to_dict(), report=report
    )
    n, oos = report["n_scored"], report["n_out_of_sample"]
    progress(1.0, f"scored {n} captions ({oos} out of sample)")
    return report


def _get_usable_version(con, model_version: int) -> dict:
    version = relevance_db.get_model_version(con, model_version)
    if version is None:
        known = relevance_db.list_model_versions(con)["model_version"].to_list()
        raise ValueError(f"model version {model_version} does not exist; known: {known}")
    if version["pruned"]:
        raise ValueError(
            f"the weights of model version {model_version} were pruned; pick a kept one"
        )
    return version


def score_caption_records(
    version: dict,
    records: pl.DataFrame,
    spec: ScoringSpec,
    progress: Progress = no_progress,
    *,
    cache_dir: str | Path,
    class_lemmas: list[str] | None = None,
) -> tuple[pl.DataFrame, dict]:
    """Score caption records (caption_id, wnid, title, description, tags) in memory.

    `cache_dir`: the storage root's text-features/ folder (frozen models read features there).
    `class_lemmas`: each model class's lemmas (the version's class order), for the captions'
    class-name mentions in the suspect scores (None: unknown, no mentions).

    Returns:
        (scores frame: caption_id, p_own, p_mean, n_tokens, truncated, suggested_wnid,
        p_suggested, out_of_sample, suspect_wrong_class, suspect_no_content,
        suggested_share, label_issue; report dict with label_issues).
    """
    class_wnids = version["run"]["class_wnids"]
    texts = compute_caption_texts(records)
    long_enough = np.fromiter(
        (compute_word_count(t) >= spec.min_words for t in texts), dtype=bool, count=len(texts)
    )
    rows = np.flatnonzero(long_enough)
    kept = records[rows.tolist()] if len(rows) else records.clear()
    index = {w: i for i, w in enumerate(class_wnids)}
    labels = np.asarray([index[w] for w in kept["wnid"]], dtype=np.int64)
    device = resolve_device(spec.device)
    kept_texts = [texts[r] for r in rows]
    if version["run"]["mode"] == "frozen":
        from curation.relevance.frozen_run import score_frozen_records

        out = score_frozen_records(
            version,
            kept,
            kept_texts,
            labels,
            device=spec.device if spec.engine.on_ray else device,
            cache_dir=cache_dir,
            progress=progress,
            engine=spec.engine,
            keep_probs=True,
        )
    else:
        out = _score_finetune(version, kept, kept_texts, labels, spec, device, progress)
    scores = pl.DataFrame(
        {
            "caption_id": kept["caption_id"],
            "p_own": out["p_own"],
            "p_mean": out["p_mean"],
            "n_tokens": out["n_tokens"],
            "truncated": out["truncated"],
            "suggested_wnid": [class_wnids[i] for i in out["suggested"]],
            "p_suggested": out["p_suggested"],
            "out_of_sample": pl.Series(out["out_of_sample"], dtype=pl.Boolean),
        }
    )
    names = None
    if class_lemmas is not None:
        index = class_names.build_class_name_index(class_lemmas)
        names = class_names.compute_name_mentions(kept_texts, labels, index)
    issue_scores, issue_report = (
        compute_caption_issues(version, out, labels, names)
        if len(labels)
        else ([], {"n_flagged": 0})
    )
    scores = scores.with_columns(issue_scores)
    report = _compute_report(version, records.height, long_enough, out)
    report["label_issues"] = issue_report
    if "features" in out:  # frozen mode: what the feature cache and its engine did
        report["features"] = out["features"]
    return scores, report


def compute_caption_issues(
    version: dict, out: dict, labels: np.ndarray, names: dict | None = None
) -> tuple[list[pl.Series], dict]:
    """The two suspect scores and cleanlab's flags from the (N, C) probabilities `out["probs"]`
    (dropped from `out` after) and the captions' class-name mentions `names`, as columns; and
    what happened (flag count, or why not).

    cleanlab's find_label_issues needs every row out of sample and every class with a caption
    per fold: the captions of a class with fewer captions than folds get NULL (the report names
    the classes), and where the whole run fails the column is NULL and the report says why (the
    suspect scores need only each caption's own row). A model with one class gets NULL scores
    and the reason.
    """
    from curation.relevance import issues

    probs, n = out.pop("probs"), len(labels)
    values: dict[str, object] = {c: [None] * n for c in scores_db.ISSUE_COLUMNS}
    report: dict[str, object] = {"n_flagged": None}
    try:
        scores = issues.compute_suspect_scores(probs, labels, names=names) if n else {}
        values.update({k: v for k, v in scores.items() if k in values})
        folds = int(version["run"].get("spec", {}).get("head", {}).get("folds", 1))
        oos = _known_oos(out["out_of_sample"])
        short = issues.find_short_classes(labels, probs.shape[1], folds)
        if len(short):  # their captions get NULL; every other caption is flagged or not
            report["why_not"] = issues.describe_short_classes(labels, short, folds)
        rows = np.flatnonzero(~np.isin(labels, short))
        if len(rows):  # every class short: the column stays NULL, the report says why
            flags = issues.compute_label_issue_flags(
                probs[rows],
                labels[rows],
                out_of_sample=None if oos is None else oos[rows],
                folds=folds,
            )
            column = np.full(n, None, dtype=object)
            column[rows] = flags
            values["label_issue"] = column.tolist()
            report["n_flagged"] = int(flags.sum())
    except ValueError as exc:
        report["why_not"] = str(exc)
    columns = [pl.Series(c, values[c], scores_db.SCORE_SCHEMA[c]) for c in values]
    return columns, report


def _known_oos(values) -> np.ndarray | None:
    """(N,) bool, or None when any caption's out-of-sample status is unknown."""
    if any(v is None for v in values):
        return None
    return np.asarray([bool(v) for v in values], dtype=bool)


def _compute_report(version: dict, n_captions: int, long_enough: np.ndarray, out: dict) -> dict:
    threshold = DEFAULT_THRESHOLDS.get(version["run"]["mode"], GLOBAL_THRESHOLD)
    kept = (out["p_own"] >= out["p_mean"]) & (out["p_own"] >= threshold)
    oos = np.asarray([bool(x) for x in out["out_of_sample"] if x is not None], dtype=bool)
    return {
        "mode": version["run"]["mode"],
        "n_captions": n_captions,
        "n_scored": int(long_enough.sum()),
        "n_out_of_sample": int(oos.sum()),
        "n_skipped_short": int((~long_enough).sum()),
        "n_truncated": int(np.asarray(out["truncated"]).sum()),
        "n_kept_by_model": int(kept.sum()),
        "n_suggested_other": int((~np.asarray(out["correct"])).sum()),
    }


def _score_finetune(version, records, texts, labels, spec: ScoringSpec, device, progress) -> dict:
    """The fine-tuned encoder + head on each caption; out of sample unless in its train split
    (None when the run predates the split file)."""
    run = version["run"]
    model, tokenizer, _ = ckpt.load_relevance_model(
        run["checkpoint_dir"],
        weights_path=Path(version["path"]),
        class_wnids=run["class_wnids"],
        encoder=run["encoder"],
        expected_sha256=version["sha256"],
    )
    model.to(device)
    out = compute_caption_outputs(
        model,
        tokenizer,
        texts,
        labels,
        batch_size=spec.resolve_batch_size(device),
        max_length=spec.max_length,
        device=device,
        amp_dtype=compute_amp_dtype(device, spec.precision),
        progress=progress,
        keep_probs=True,
    )
    out["truncated"] = _compute_truncated(tokenizer, texts, out["n_tokens"], spec)
    split = ckpt.load_caption_table(run["checkpoint_dir"], ckpt.SPLIT_FILE)
    if split is None:
        out["out_of_sample"] = [None] * len(texts)
    else:
        trained = set(split.filter(pl.col("split") == "train")["caption_id"].to_list())
        out["out_of_sample"] = [int(c) not in trained for c in records["caption_id"]]
    return out


def _compute_truncated(tokenizer, texts: list[str], n_tokens: np.ndarray, spec) -> np.ndarray:
    """True where the caption was cut at max_length (only full-length ones are re-checked)."""
    truncated = np.zeros(len(texts), dtype=bool)
    full = np.flatnonzero(n_tokens >= spec.max_length)
    if full.size:
        ids = tokenizer([texts[i] for i in full], add_special_tokens=True)["input_ids"]
        truncated[full] = [len(x) > spec.max_length for x in ids]
    return truncated
