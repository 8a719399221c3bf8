"""Frozen-mode training and scoring runs: features from the cache, cross-fitted heads, records.

Training (`train_frozen_relevance_model`): the encoder runs once over captions and class
sentences (cached: a second training, with any head settings, encodes nothing), then the K
fold heads train on the features for every class; each epoch's out-of-sample loss and top-1
are recorded for the live charts; at the end the heads, the caption folds and the run's
meta are written and ONE model version is recorded. A run that is cancelled or fails records
no model version, so it never becomes the model to score with; training into its folder
again starts it over (the features are cached, so that is cheap).

Scoring (`score_frozen_records`): every caption a fold held out is scored by that fold's
head; any other caption (imported later, another source) by the mean head, which never saw
it either: every frozen-mode score is out of sample.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from contract.devices import resolve_device
from contract.progress import Progress, no_progress, scale_progress
from curation.relevance import checkpoint as ckpt
from curation.relevance import frozen
from curation.relevance.batching import compute_special_token_count, compute_token_lengths
from curation.relevance.dataset import RelevanceDataset
from curation.relevance.features import compute_dataset_features
from curation.relevance.runs import start_or_resume_run
from curation.relevance.specs import TrainSpec
from db import relevance as relevance_db
from db.storage import get_storage
from encoders.cache import load_text_features
from encoders.loading import compute_encoder_key, load_encoder

FEATURE_SHARE = 0.6  # of the job's progress bar, while features are computed


def train_frozen_relevance_model(
    con: duckdb.DuckDBPyConnection,
    spec: TrainSpec,
    dataset: RelevanceDataset,
    *,
    progress: Progress = no_progress,
) -> dict:
    """Features, cross-fitted heads, records; see the module docstring.

    Returns:
        run_id, epochs_done, best_epoch, best_model_version, best_test_accuracy (out of
        sample, over every caption), stopped_early (False), mode, features (the feature
        report), head_seconds, dataset (report).

    Raises:
        ValueError: the folder holds a finished run or another mode's checkpoint.
    """
    run_dir = Path(spec.checkpoint_dir).resolve()
    existing = _check_run_dir(con, run_dir)
    device = resolve_device(spec.device)
    progress(0.0, f"loading encoder {spec.encoder}")
    encoder, tokenizer = load_encoder(spec.encoder)
    encoder.to(device)
    encoder_key = compute_encoder_key(spec.encoder, encoder)
    report = dict(dataset.report)
    run_id = _start_run(con, spec, dataset, run_dir, report, existing)
    try:
        features = compute_dataset_features(
            dataset,
            encoder,
            tokenizer,
            encoder_key=encoder_key,
            max_length=spec.max_length,
            batch_size=spec.head.feature_batch_size,
            device=device,
            cache_dir=spec.head.cache_dir or get_storage(con).text_features,
            progress=scale_progress(progress, 0.0, FEATURE_SHARE),
        )
        del encoder
        ckpt.save_run_meta(run_dir, _run_meta(spec, dataset, encoder_key))
        result = _train_and_record(
            con, spec, dataset, features, run_id=run_id, run_dir=run_dir, progress=progress
        )
    except BaseException:
        relevance_db.update_run_status(con, run_id, "stopped")
        raise
    relevance_db.update_run_status(con, run_id, "finished")
    progress(1.0, f"done: out-of-sample top-1 {result['best_test_accuracy']:.3f}")
    return {"run_id": run_id, **result, "features": features.report, "dataset": report}


def _check_run_dir(con, run_dir: Path) -> dict | None:
    existing = relevance_db.get_run(con, checkpoint_dir=str(run_dir))
    meta = ckpt.load_run_meta(run_dir)
    if meta is not None and meta.get("mode", "finetune") != "frozen":
        raise ckpt.CheckpointMismatchError(
            f"{run_dir} holds a fine-tune checkpoint: train the frozen mode into another folder."
        )
    if existing is not None and existing["mode"] != "frozen":
        raise ckpt.CheckpointMismatchError(
            f"{run_dir} belongs to fine-tune run {existing['run_id']}: use another folder."
        )
    if existing is not None and existing["status"] == "finished":
        raise ValueError(
            f"{run_dir} already holds finished frozen run {existing['run_id']}. A frozen model "
            "trains in minutes from cached features: train into another folder."
        )
    return existing


def _start_run(con, spec, dataset, run_dir: Path, report: dict, existing) -> int:
    """The run row, marked 'training'; a rerun of an unfinished frozen run starts its
    metrics and report afresh (the head retrains from cached features)."""
    run_id = start_or_resume_run(
        con, spec, dataset, run_dir, report, mode="frozen", existing=existing
    )
    if existing is not None:
        relevance_db.delete_epoch_metrics(con, run_id)
        relevance_db.update_run_report(con, run_id, spec=spec.to_dict(), dataset_report=report)
    return run_id


def _train_and_record(con, spec, dataset, features, *, run_id, run_dir, progress) -> dict:
    labels = dataset.captions["label"].to_numpy()
    folds = frozen.compute_folds(labels, folds=spec.head.folds, seed=spec.seed)
    history: list[dict] = []

    def on_epoch(epoch: int, metrics: dict) -> None:
        history.append({**metrics, "epoch": epoch})
        relevance_db.insert_epoch_metrics(con, run_id, epoch=epoch, metrics=metrics)

    started = time.perf_counter()
    heads = frozen.train_cross_fitted_heads(
        features.captions,
        labels,
        folds,
        n_classes=len(dataset.class_wnids),
        spec=spec.head,
        dropout=spec.dropout,
        seed=spec.seed,
        extra_features=features.sentences,
        extra_labels=features.sentence_labels,
        on_epoch=on_epoch,
        progress=scale_progress(progress, FEATURE_SHARE, 0.98),
    )
    head_seconds = time.perf_counter() - started
    run_dir.mkdir(parents=True, exist_ok=True)
    path, sha = frozen.save_frozen_heads(run_dir, heads)
    ckpt.save_caption_table(
        run_dir,
        frozen.FOLDS_FILE,
        pl.DataFrame({"caption_id": dataset.captions["caption_id"], "fold": folds}),
    )
    last = history[-1]
    version = relevance_db.insert_model_version(
        con,
        run_id,
        epoch=last["epoch"],
        path=path,
        sha256=sha,
        test_loss=last["test_loss"],
        test_accuracy=last["test_accuracy"],
    )
    return {
        "mode": "frozen",
        "epochs_done": last["epoch"],
        "best_epoch": last["epoch"],
        "best_model_version": version,
        "best_test_accuracy": last["test_accuracy"],
        "stopped_early": False,
        "head_seconds": head_seconds,
    }


def _run_meta(spec: TrainSpec, dataset: RelevanceDataset, encoder_key: str) -> dict:
    return {
        "mode": "frozen",
        "class_wnids": list(dataset.class_wnids),
        "encoder": spec.encoder,
        "encoder_key": encoder_key,
        "dropout": spec.dropout,
        "max_length": spec.max_length,
        "folds": spec.head.folds,
        "spec": spec.to_dict(),
        "sentences": dataset.sentences,
        "description_revisions": dataset.description_revisions,
    }


def score_frozen_records(
    version: dict,
    records: pl.DataFrame,
    texts: list[str],
    labels: np.ndarray,
    *,
    device: str,
    cache_dir: str | Path,
    progress: Progress = no_progress,
    engine=None,
    keep_probs: bool = False,
) -> dict[str, np.ndarray]:
    """Score captions with a frozen-mode model version (features from the cache).

    Args:
        version: `db.relevance.get_model_version` of a frozen run.
        records: the captions (caption_id ...), aligned with texts (N,) and labels (N,).
        cache_dir: the storage root's text-features/ folder (the run's own `cache_dir`
            setting wins when it has one).
        engine: where missing caption features are computed (a `scale.specs.EngineSpec`;
            None = here; `encoders.cache.load_text_features`).
        keep_probs: also return `probs`, the (N, C) out-of-sample sigmoid outputs (for
            `issues.py`).

    Returns:
        (N,) arrays as `frozen.compute_head_outputs`, plus n_tokens, truncated,
        out_of_sample (all True).

    Raises:
        CheckpointMismatchError: the encoder's weights are not those the heads were trained on.
    """
    run_dir = Path(version["run"]["checkpoint_dir"])
    meta = ckpt.load_run_meta(run_dir) or {}
    heads = frozen.load_frozen_heads(version["path"], expected_sha256=version["sha256"])
    encoder, tokenizer = load_encoder(meta.get("encoder", version["run"]["encoder"]))
    encoder.to(device)
    key = compute_encoder_key(meta.get("encoder", ""), encoder)
    if key != meta.get("encoder_key"):
        raise ckpt.CheckpointMismatchError(
            f"The encoder loaded now ({key}) is not the one model version "
            f"{version['model_version']} was trained on ({meta.get('encoder_key')}): its "
            "weights changed. Train a new frozen model."
        )
    max_length = int(meta["max_length"])
    spec = meta.get("spec", {}).get("head", {})
    features, feature_report = load_text_features(
        encoder,
        tokenizer,
        texts,
        encoder_key=key,
        max_length=max_length,
        batch_size=int(spec.get("feature_batch_size", 64)),
        device=device,
        cache_dir=spec.get("cache_dir") or cache_dir,
        progress=scale_progress(progress, 0.0, 0.9),
        engine=engine,
    )
    head_of_row = _compute_head_of_row(run_dir, records["caption_id"].to_numpy())
    out = frozen.compute_head_outputs(features, labels, heads, head_of_row, keep_probs=keep_probs)
    lengths = compute_token_lengths(tokenizer, texts) + compute_special_token_count(tokenizer)
    out["n_tokens"] = np.minimum(lengths, max_length).astype(np.int32)
    out["truncated"] = lengths > max_length
    out["out_of_sample"] = np.ones(len(texts), dtype=bool)
    out["features"] = feature_report.to_dict()
    return out


def _compute_head_of_row(run_dir: Path, caption_ids: np.ndarray) -> np.ndarray:
    """(N,) the fold that held each caption out, or MEAN_HEAD for captions in no fold."""
    folds = ckpt.load_caption_table(run_dir, frozen.FOLDS_FILE)
    head = np.full(len(caption_ids), frozen.MEAN_HEAD, dtype=np.int64)
    if folds is None or not len(caption_ids):
        return head
    fold_of = dict(zip(folds["caption_id"].to_list(), folds["fold"].to_list(), strict=True))
    return np.fromiter(
        (fold_of.get(int(c), frozen.MEAN_HEAD) for c in caption_ids), np.int64, len(caption_ids)
    )
