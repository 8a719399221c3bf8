"""Train the relevance model, in either mode (`TrainSpec.mode`).

'frozen' (the default on a CPU) is `frozen_run.train_frozen_relevance_model`: a head on
cached encoder features, cross-fitted. 'finetune' (the default on CUDA) is below: the whole
encoder and head, BCE on one-hot targets over (caption, class sentence) pairs.

Each epoch trains on a fresh random share (default 75 %) of the pairs in length-bucketed,
dynamically padded batches; mixed precision (bf16/fp16 autocast) only on CUDA. After every
epoch the test captions are scored alone (loss, top-1 accuracy of the own class), a
checkpoint is written and recorded, and early stopping is checked. Training into a directory
that already holds checkpoints resumes after its last saved epoch (weights, optimizer, RNG).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from contract.devices import resolve_device
from contract.progress import Progress, no_progress
from curation.relevance import checkpoint as ckpt
from curation.relevance.batching import (
    compute_caption_outputs,
    compute_special_token_count,
    compute_token_lengths,
)
from curation.relevance.dataset import (
    RelevanceDataset,
    build_relevance_dataset,
    compute_training_pairs,
)
from curation.relevance.frozen_run import train_frozen_relevance_model
from curation.relevance.model import compute_amp_dtype, create_relevance_model
from curation.relevance.runs import start_or_resume_run
from curation.relevance.specs import TrainSpec, resolve_mode
from db import relevance as relevance_db
from encoders.batching import compute_length_buckets
from encoders.loading import load_encoder


@dataclass
class _Run:
    """Mutable state of one training run."""

    model: object
    tokenizer: object
    optimizer: object
    scaler: object
    device: str
    amp_dtype: object
    run_dir: Path
    run_id: int = 0
    last_epoch: int = 0
    best_accuracy: float = -1.0
    best_loss: float = float("inf")
    best_epoch: int = 0
    bad_epochs: int = 0


@dataclass(frozen=True)
class _Pairs:
    texts: list[str]
    labels: np.ndarray  # (N,) own-class row of each caption
    caption_rows: np.ndarray  # (P,)
    sentence_ids: np.ndarray  # (P,)
    sentences: list[str]
    lengths: np.ndarray  # (P,) estimated pair token counts (capped at max_length)
    n_truncated: int  # captions longer than max_length on their own


def run_train_relevance(
    con: duckdb.DuckDBPyConnection, spec: TrainSpec, progress: Progress | None = None
) -> dict:
    """Build the dataset from the database and train (or resume) a relevance model.

    Returns:
        A summary: run_id, mode, epochs_done, best_epoch, best_model_version,
        best_test_accuracy, stopped_early, dataset report (frozen mode adds the feature
        report and head_seconds).
    """
    if not isinstance(spec, TrainSpec):
        raise ValueError(f"spec must be a TrainSpec, got {type(spec).__name__}")
    progress = progress or no_progress
    dataset = build_relevance_dataset(con, spec.dataset)
    report = dataset.report
    progress(0.0, f"dataset: {report['n_classes']} classes, {report['n_train_pairs']} pairs")
    return train_relevance_model(con, spec, dataset, progress=progress)


def train_relevance_model(
    con: duckdb.DuckDBPyConnection,
    spec: TrainSpec,
    dataset: RelevanceDataset,
    *,
    progress: Progress = no_progress,
) -> dict:
    """Train on a built dataset in the spec's mode; see `run_train_relevance`."""
    if resolve_mode(spec.mode, resolve_device(spec.device)) == "frozen":
        return train_frozen_relevance_model(con, spec, dataset, progress=progress)
    return _train_finetune(con, spec, dataset, progress=progress)


def _train_finetune(con, spec: TrainSpec, dataset: RelevanceDataset, *, progress) -> dict:
    if dataset.report["n_test_captions"] == 0:
        raise ValueError("the test split is empty: every class needs at least 2 captions")
    run = _load_or_create_model(spec, dataset)
    pairs = _prepare_pairs(dataset, run.tokenizer, spec)
    report = {**dataset.report, "n_truncated_captions": pairs.n_truncated}
    existing = relevance_db.get_run(con, checkpoint_dir=str(run.run_dir))
    run.run_id = start_or_resume_run(
        con, spec, dataset, run.run_dir, report, mode="finetune", existing=existing
    )
    stopped_early = 0 < spec.patience <= run.bad_epochs
    try:
        for epoch in range(run.last_epoch + 1, spec.epochs + 1):
            if stopped_early:
                break
            metrics = _train_one_epoch(run, pairs, spec, epoch, progress)
            metrics.update(_evaluate(run, dataset, spec))
            stopped_early = _finish_epoch(con, run, spec, epoch, metrics)
    except BaseException:
        relevance_db.update_run_status(con, run.run_id, "stopped")
        raise
    relevance_db.update_run_status(con, run.run_id, "finished")
    progress(1.0, f"done: best epoch {run.best_epoch}, test accuracy {run.best_accuracy:.3f}")
    versions = relevance_db.list_model_versions(con, run_id=run.run_id)
    best = versions.filter(versions["epoch"] == run.best_epoch)["model_version"].to_list()
    return {
        "run_id": run.run_id,
        "mode": "finetune",
        "epochs_done": run.last_epoch,
        "best_epoch": run.best_epoch,
        "best_model_version": best[0] if best else None,
        "best_test_accuracy": run.best_accuracy,
        "stopped_early": stopped_early,
        "dataset": report,
    }


def _load_or_create_model(spec: TrainSpec, dataset: RelevanceDataset) -> _Run:
    import torch

    run_dir = Path(spec.checkpoint_dir).resolve()
    meta = ckpt.load_run_meta(run_dir)
    epochs = ckpt.list_saved_epochs(run_dir) if meta else []
    if meta is not None:
        ckpt.check_compatible(
            meta,
            class_wnids=dataset.class_wnids,
            encoder=spec.encoder,
            mode="finetune",
            where=str(run_dir),
        )
    if epochs:
        model, tokenizer, _ = ckpt.load_relevance_model(run_dir)
        state = ckpt.load_train_state(run_dir, epochs[-1])
    else:
        encoder, tokenizer = load_encoder(spec.encoder)
        torch.manual_seed(spec.seed)  # the head's initial weights and the dropout masks
        model = create_relevance_model(
            encoder, n_classes=len(dataset.class_wnids), dropout=spec.dropout
        )
        meta = {
            "mode": "finetune",
            "class_wnids": list(dataset.class_wnids),
            "encoder": spec.encoder,
            "dropout": spec.dropout,
            "max_length": spec.max_length,
            "spec": spec.to_dict(),
            "sentences": dataset.sentences,
            "description_revisions": dataset.description_revisions,
        }
        ckpt.save_run_files(run_dir, meta=meta, encoder=encoder, tokenizer=tokenizer)
        ckpt.save_caption_table(
            run_dir, ckpt.SPLIT_FILE, dataset.captions.select("caption_id", "split")
        )
        state = None
    device = resolve_device(spec.device)
    amp_dtype = compute_amp_dtype(device, spec.precision)
    model.to(device)
    run = _Run(
        model,
        tokenizer,
        _make_optimizer(model, spec),
        torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
        device,
        amp_dtype,
        run_dir,
    )
    if state is not None:
        _restore_state(run, state)
    return run


def _make_optimizer(model, spec: TrainSpec):
    import torch

    for param in model.encoder.parameters():
        param.requires_grad_(spec.train_encoder)
    groups = [{"params": list(model.head.parameters()), "lr": spec.head_learning_rate}]
    if spec.train_encoder:
        groups.append({"params": list(model.encoder.parameters()), "lr": spec.learning_rate})
    return torch.optim.AdamW(groups, weight_decay=spec.weight_decay)


def _restore_state(run: _Run, state: dict) -> None:
    import torch

    run.optimizer.load_state_dict(state["optimizer"])
    if state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["torch_rng"])
    if torch.cuda.is_available() and state.get("cuda_rng"):
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    run.last_epoch = int(state["epoch"])
    run.best_accuracy = float(state["best_accuracy"])
    run.best_loss = float(state["best_loss"])
    run.best_epoch = int(state["best_epoch"])
    run.bad_epochs = int(state["bad_epochs"])


def _train_state(run: _Run) -> dict:
    import torch

    return {
        "epoch": run.last_epoch,
        "optimizer": run.optimizer.state_dict(),
        "scaler": run.scaler.state_dict() if run.scaler.is_enabled() else {},
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "best_accuracy": run.best_accuracy,
        "best_loss": run.best_loss,
        "best_epoch": run.best_epoch,
        "bad_epochs": run.bad_epochs,
    }


def _prepare_pairs(dataset: RelevanceDataset, tokenizer, spec: TrainSpec) -> _Pairs:
    caption_rows, sentence_ids, sentences = compute_training_pairs(dataset)
    texts = dataset.captions["text"].to_list()
    caption_len = compute_token_lengths(tokenizer, texts)
    sentence_len = compute_token_lengths(tokenizer, sentences)
    special = compute_special_token_count(tokenizer, pair=True)
    lengths = caption_len[caption_rows] + sentence_len[sentence_ids] + special
    single = compute_special_token_count(tokenizer)
    n_truncated = int((caption_len + single > spec.max_length).sum())
    return _Pairs(
        texts,
        dataset.captions["label"].to_numpy(),
        caption_rows,
        sentence_ids,
        sentences,
        np.minimum(lengths, spec.max_length),
        n_truncated,
    )


def _train_one_epoch(run: _Run, pairs: _Pairs, spec: TrainSpec, epoch: int, progress) -> dict:
    import torch

    started = time.perf_counter()
    rng = np.random.default_rng([spec.seed, epoch])
    n_pairs = len(pairs.caption_rows)
    subset = rng.choice(
        n_pairs, size=max(1, int(round(spec.epoch_fraction * n_pairs))), replace=False
    )
    batches = compute_length_buckets(pairs.lengths[subset], batch_size=spec.batch_size, rng=rng)
    run.model.train()
    total = torch.zeros((), device=run.device)
    for i, batch in enumerate(batches):
        loss = _train_step(run, pairs, subset[batch], spec)
        total += loss.detach() * len(batch)
        if i % 10 == 0 or i == len(batches) - 1:  # .item() waits for the GPU: not every step
            shown = loss.item()
        fraction = (epoch - 1 + (i + 1) / len(batches)) / spec.epochs
        progress(
            fraction, f"epoch {epoch}/{spec.epochs} step {i + 1}/{len(batches)} loss {shown:.4f}"
        )
    return {
        "train_loss": float(total.item()) / len(subset),
        "n_train_pairs": len(subset),
        "seconds": time.perf_counter() - started,
    }


def _train_step(run: _Run, pairs: _Pairs, rows: np.ndarray, spec: TrainSpec):
    import torch
    import torch.nn.functional as F

    caption_rows = pairs.caption_rows[rows]
    enc = run.tokenizer(
        [pairs.texts[r] for r in caption_rows],
        [pairs.sentences[s] for s in pairs.sentence_ids[rows]],
        truncation="longest_first",
        max_length=spec.max_length,
        padding=True,
        return_tensors="pt",
    )
    labels = torch.as_tensor(pairs.labels[caption_rows], device=run.device).long()
    with torch.autocast("cuda", dtype=run.amp_dtype, enabled=run.amp_dtype is not None):
        logits = run.model(
            input_ids=enc["input_ids"].to(run.device),
            attention_mask=enc["attention_mask"].to(run.device),
        )
    target = F.one_hot(labels, logits.shape[1]).float()  # (B, C)
    loss = F.binary_cross_entropy_with_logits(logits.float(), target)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    return loss


def _evaluate(run: _Run, dataset: RelevanceDataset, spec: TrainSpec) -> dict:
    test = dataset.captions.filter(dataset.captions["split"] == "test")
    out = compute_caption_outputs(
        run.model,
        run.tokenizer,
        test["text"].to_list(),
        test["label"].to_numpy(),
        batch_size=spec.eval_batch_size,
        max_length=spec.max_length,
        device=run.device,
        amp_dtype=run.amp_dtype,
    )
    return {"test_loss": float(out["loss"].mean()), "test_accuracy": float(out["correct"].mean())}


def _finish_epoch(con, run: _Run, spec: TrainSpec, epoch: int, metrics: dict) -> bool:
    """Update early-stopping state, save and record the checkpoint, prune old ones.

    Returns:
        True when training should stop early.
    """
    acc, loss = metrics["test_accuracy"], metrics["test_loss"]
    if acc > run.best_accuracy or (acc == run.best_accuracy and loss < run.best_loss):
        run.best_accuracy, run.best_loss, run.best_epoch, run.bad_epochs = acc, loss, epoch, 0
    else:
        run.bad_epochs += 1
    run.last_epoch = epoch
    path, sha = ckpt.save_epoch(run.run_dir, epoch, model=run.model, train_state=_train_state(run))
    relevance_db.insert_epoch(con, run.run_id, epoch=epoch, metrics=metrics, path=path, sha256=sha)
    _prune_checkpoints(con, run, spec)
    return 0 < spec.patience <= run.bad_epochs


def _prune_checkpoints(con, run: _Run, spec: TrainSpec) -> None:
    if spec.keep_checkpoints <= 0:
        return
    import shutil

    versions = relevance_db.list_model_versions(con, run_id=run.run_id)
    keep_from = run.last_epoch - spec.keep_checkpoints + 1
    for row in versions.filter(~versions["pruned"]).iter_rows(named=True):
        if row["epoch"] < keep_from and row["epoch"] != run.best_epoch:
            shutil.rmtree(ckpt.epoch_dir(run.run_dir, row["epoch"]), ignore_errors=True)
            relevance_db.update_model_version_pruned(con, row["model_version"])
