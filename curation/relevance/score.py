"""Score captions with one model version: each caption alone (no class sentence) gives
P(own class) and the mean probability over the classes. Scores are stored per caption and
model version; decisions are derived from them by `rules.py`, and a person's decision (own
table) always wins, so rescoring never overwrites it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from contract.devices import resolve_device
from contract.progress import Progress, no_progress
from curation.relevance import checkpoint as ckpt
from curation.relevance.batching import compute_caption_outputs
from curation.relevance.dataset import compute_caption_texts, compute_word_count
from curation.relevance.model import compute_amp_dtype
from curation.relevance.specs import ScoringSpec
from db import relevance as relevance_db


def run_score_relevance(
    con: duckdb.DuckDBPyConnection,
    spec: ScoringSpec,
    progress: Progress | None = None,
) -> dict:
    """Score the captions of the model's classes and store the scores (one transaction).

    Returns:
        A report: n_scored, n_skipped_short, n_truncated, n_kept_by_model, scoring_id.

    Raises:
        ValueError: unknown model version, pruned weights, or wnids outside the class set.
    """
    if not isinstance(spec, ScoringSpec):
        raise ValueError(f"spec must be a ScoringSpec, got {type(spec).__name__}")
    progress = progress or no_progress
    version = relevance_db.get_model_version(con, spec.model_version)
    if version is None:
        known = relevance_db.list_model_versions(con)["model_version"].to_list()
        raise ValueError(f"model version {spec.model_version} does not exist; known: {known}")
    if version["pruned"]:
        raise ValueError(
            f"the weights of model version {spec.model_version} were pruned; pick a kept one"
        )
    class_wnids = version["run"]["class_wnids"]
    outside = sorted(set(spec.wnids) - set(class_wnids))
    if outside:
        raise ValueError(
            f"classes {outside[:5]} are not in model version "
            f"{spec.model_version}'s class set ({len(class_wnids)} classes)"
        )
    model, tokenizer, _ = ckpt.load_relevance_model(
        version["run"]["checkpoint_dir"],
        weights_path=Path(version["path"]),
        class_wnids=class_wnids,
        encoder=version["run"]["encoder"],
        expected_sha256=version["sha256"],
    )
    records = relevance_db.list_caption_records(con, wnids=list(spec.wnids) or class_wnids)
    scores, report = score_caption_records(model, tokenizer, records, class_wnids, spec, progress)
    report["scoring_id"] = relevance_db.insert_scores(
        con, model_version=spec.model_version, scores=scores, spec=spec.to_dict(), report=report
    )
    progress(1.0, f"scored {report['n_scored']} captions")
    return report


def score_caption_records(
    model, tokenizer, records: pl.DataFrame, class_wnids: list[str], spec: ScoringSpec, progress
) -> tuple[pl.DataFrame, dict]:
    """Score caption records (caption_id, wnid, title, description, tags) in memory.

    Returns:
        (scores frame: caption_id, p_own, p_mean, n_tokens, truncated; report dict).
    """
    texts = compute_caption_texts(records)
    long_enough = np.fromiter(
        (compute_word_count(t) >= spec.min_words for t in texts), dtype=bool, count=len(texts)
    )
    rows = np.flatnonzero(long_enough)
    index = {w: i for i, w in enumerate(class_wnids)}
    labels = np.asarray([index[w] for w in records["wnid"].gather(rows)], dtype=np.int64)
    device = resolve_device(spec.device)
    model.to(device)
    out = compute_caption_outputs(
        model,
        tokenizer,
        [texts[r] for r in rows],
        labels,
        batch_size=spec.resolve_batch_size(device),
        max_length=spec.max_length,
        device=device,
        amp_dtype=compute_amp_dtype(device, spec.precision),
        progress=progress,
    )
    truncated = _compute_truncated(tokenizer, [texts[r] for r in rows], out["n_tokens"], spec)
    scores = pl.DataFrame(
        {
            "caption_id": records["caption_id"].gather(rows),
            "p_own": out["p_own"],
            "p_mean": out["p_mean"],
            "n_tokens": out["n_tokens"],
            "truncated": truncated,
        }
    )
    kept = (out["p_own"] >= out["p_mean"]) & (out["p_own"] >= 0.5)
    report = {
        "n_captions": records.height,
        "n_scored": int(len(rows)),
        "n_skipped_short": int((~long_enough).sum()),
        "n_truncated": int(truncated.sum()),
        "n_kept_by_model": int(kept.sum()),
    }
    return scores, report


def _compute_truncated(tokenizer, texts: list[str], n_tokens: np.ndarray, spec) -> np.ndarray:
    """True where the caption was cut at max_length (only full-length ones are re-checked)."""
    truncated = np.zeros(len(texts), dtype=bool)
    full = np.flatnonzero(n_tokens >= spec.max_length)
    if full.size:
        ids = tokenizer([texts[i] for i in full], add_special_tokens=True)["input_ids"]
        truncated[full] = [len(x) > spec.max_length for x in ids]
    return truncated
