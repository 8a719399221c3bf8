"""Few-shot baseline: from how many examples does a trained row beat the synthesized one?

Transfer learning on the frozen backbone: for a class c and k shots, a one-vs-rest linear row
(w, b) on the pre-logits features is trained with Adam on k images of c and k images of
every other class of the set (binary cross-entropy, positives weighted by n_neg / n_pos so
both sides count equally), starting from zeros or from a synthesized row. It is scored on a
fixed test sample of the class (disjoint from every shot) with the same metrics as the
protocol; k = 0 holds the untrained synthesized rows and the base model's trained row.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import numpy as np
import polars as pl
import torch

from contract.progress import Progress, no_progress, scale_progress
from db import evaluation as eval_db
from db import image_sets as set_db
from db.classes import get_class_names
from db.storage import get_storage
from extension.evaluation.heads import compute_eval_rows
from extension.evaluation.protocol import compute_class_sample
from extension.evaluation.rules import ScoredClass, compute_class_metrics
from extension.images.sets import load_set_features, run_embed_image_set
from extension.models import BaseClassifier, load_base_classifier
from extension.specs import TRAINED, EmbedSpec, FewShotSpec
from extension.text.store import ensure_text_stats

ZEROS = "zeros"


def compute_shot_indices(labels: np.ndarray, pool: np.ndarray, *, k: int, seed: int) -> np.ndarray:
    """Up to k indices of every class among `pool` (indices into labels), reproducible, sorted.

    Raises:
        ValueError: k < 1.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    rng = np.random.default_rng(seed)
    pool_labels = labels[pool]
    picked = []
    for wnid in np.unique(pool_labels):
        members = pool[pool_labels == wnid]
        picked.append(rng.choice(members, min(k, len(members)), replace=False))
    return np.sort(np.concatenate(picked))


def compute_trained_row(
    features: torch.Tensor,
    labels: torch.Tensor,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    steps: int = 200,
    lr: float = 0.01,
    weight_decay: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """Train a binary row with Adam (full batch, balanced BCE).

    Args:
        features: (N, D) float32.
        labels: (N,) bool.
        init: (row (D,), bias ()) to start from; zeros when None.

    Returns:
        (row (D,), bias (), loss per step).
    """
    if features.shape[0] != labels.shape[0] or features.ndim != 2:
        raise ValueError(
            f"features {tuple(features.shape)} and labels {tuple(labels.shape)} do not match"
        )
    if labels.all() or not labels.any():
        raise ValueError("training needs both positives and negatives")
    target = labels.float()
    weight = torch.zeros(features.shape[1]) if init is None else init[0].detach().float().clone()
    bias = torch.zeros(()) if init is None else init[1].detach().float().reshape(()).clone()
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    optimizer = torch.optim.AdamW([weight, bias], lr=lr, weight_decay=weight_decay)
    pos_weight = (~labels).sum() / labels.sum()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            features @ weight + bias, target, pos_weight=pos_weight.float()
        )
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return weight.detach(), bias.detach(), losses


def run_fewshot(
    con, spec: FewShotSpec, progress: Progress | None = None, *, cache_dir: Path | None = None
) -> dict:
    """Train and score the few-shot rows for every class, k and initialization; store one run.

    Returns:
        `run_id` and `classes`: {wnid: {init: {k: {metric: mean over repeats}}}}.
    """
    cache_dir = get_storage(con, cache_dir=cache_dir).cache
    report = progress or no_progress
    _validate(con, spec)
    start = time.perf_counter()
    if spec.init_methods:
        ensure_text_stats(con, scale_progress(report, 0.0, 0.02))
    base = load_base_classifier(spec.model, cache_dir=cache_dir)
    features, labels = _load_features(con, spec, base, cache_dir, report)
    eval_rows = compute_eval_rows(con, base, list(spec.classes), spec.init_methods)
    rows, classes = [], []
    names = get_class_names(con, list(spec.classes))
    for i, wnid in enumerate(spec.classes):
        report(0.3 + 0.7 * i / len(spec.classes), f"class {names.get(wnid, wnid)} ({wnid})")
        test_idx, test_labels, pool = _split(labels, wnid, spec)
        classes.append(
            (wnid, eval_rows.row_source[wnid], int(test_labels.sum()), int((~test_labels).sum()))
        )
        starts = {
            label: (w[i], b[i])
            for label, (w, b) in eval_rows.rows.items()
            if not torch.isnan(w[i]).any()
        }
        test = (features[test_idx], test_labels)
        for label, (weight, bias) in starts.items():
            rows += _score(test[0] @ weight + bias, test[1], spec.seed, key=(wnid, label, 0, 0))
        starts.pop(TRAINED, None)
        rows += _compute_class_shots(features, labels, pool, test, wnid, starts, spec)
    frame = pl.DataFrame(
        rows, schema=["wnid", "init", "k", "repeat_idx", "metric", "value"], orient="row"
    )
    summary = {
        "seconds": round(time.perf_counter() - start, 2),
        "classes": _summarize(frame),
        "inits": [ZEROS, *[label for label in eval_rows.rows if label != TRAINED]],
    }
    run_id = _store(con, spec, base.model_key, summary, classes, frame)
    report(1.0, f"run {run_id} stored")
    return {"run_id": run_id, **summary}


def _load_features(con, spec: FewShotSpec, base: BaseClassifier, cache_dir: Path, report: Progress):
    """(features (N, D), labels (N,)) of the set, embedded first when needed."""
    state = set_db.get_embedding_state(con, spec.image_set_id, base.model_key)
    if state is None or state["status"] != "complete":
        embed = EmbedSpec(spec.image_set_id, model=spec.model, device=spec.device)
        run_embed_image_set(
            con, embed, scale_progress(report, 0.0, 0.3), cache_dir=cache_dir, model=base.model
        )
    features, items = load_set_features(con, spec.image_set_id, base.model_key, cache_dir=cache_dir)
    return features, items["wnid"].to_numpy()


def _compute_class_shots(
    features, labels, pool, test, wnid: str, starts: dict, spec: FewShotSpec
) -> list:
    """Rows (wnid, init, k, repeat, metric, value) of every k, repeat and initialization."""
    rows = []
    for k in spec.shots:
        for repeat in range(spec.repeats):
            shots = compute_shot_indices(labels, pool, k=k, seed=_seed(spec.seed, wnid, k, repeat))
            shot_labels = torch.from_numpy(labels[shots] == wnid)
            for init in (ZEROS, *starts):
                w, b, losses = compute_trained_row(
                    features[shots],
                    shot_labels,
                    starts.get(init),
                    steps=spec.steps,
                    lr=spec.lr,
                    weight_decay=spec.weight_decay,
                )
                key = (wnid, init, k, repeat)
                rows += _score(test[0] @ w + b, test[1], spec.seed, key=key)
                rows += [(*key, "loss_start", losses[0]), (*key, "loss_end", losses[-1])]
    return rows


def _store(
    con, spec: FewShotSpec, model_key: str, summary: dict, classes: list, frame: pl.DataFrame
) -> int:
    names = get_class_names(con, list(spec.classes))
    class_frame = pl.DataFrame(
        [(w, names.get(w, w), source, p, n) for w, source, p, n in classes],
        schema=["wnid", "name", "row_source", "n_pos", "n_neg"],
        orient="row",
    )
    return eval_db.insert_eval_run(
        con,
        kind="fewshot",
        name=f"few-shot · {len(spec.classes)} classes · k={list(spec.shots)}",
        image_set_id=spec.image_set_id,
        model_key=model_key,
        spec_json=spec.to_json(),
        summary=summary,
        classes=class_frame,
        fewshot=frame.with_columns(pl.col("k").cast(pl.Int32), pl.col("repeat_idx").cast(pl.Int32)),
    )


def _validate(con, spec: FewShotSpec) -> None:
    if not spec.classes or not spec.shots:
        raise ValueError("Choose at least one class and one k.")
    if min(spec.shots) < 1 or spec.repeats < 1 or spec.steps < 1:
        raise ValueError(
            f"shots, repeats and steps must be >= 1, got {spec.shots}, {spec.repeats}, {spec.steps}"
        )
    if set_db.get_image_set(con, spec.image_set_id) is None:
        raise ValueError(f"Image set {spec.image_set_id} does not exist; register it first.")


def _split(labels: np.ndarray, wnid: str, spec: FewShotSpec):
    """Test sample (positives capped so max(k) of the class stay for training) and the pool."""
    n_class = int((labels == wnid).sum())
    if n_class <= max(spec.shots):
        raise ValueError(
            f"Class {wnid} has {n_class} images; k={max(spec.shots)} needs more (some are kept "
            "for testing)."
        )
    n_pos = min(spec.n, n_class - max(spec.shots))
    pos, neg = compute_class_sample(labels, wnid, n=n_pos, seed=spec.seed)
    test_idx = np.concatenate([pos, neg])
    pool = np.setdiff1d(np.arange(len(labels)), test_idx)
    return test_idx, np.arange(len(test_idx)) < len(pos), pool


def _seed(seed: int, wnid: str, k: int, repeat: int) -> list[int]:
    return [seed, zlib.crc32(wnid.encode()), k, repeat]


def _score(scores: torch.Tensor, labels: np.ndarray, seed: int, *, key: tuple) -> list[tuple]:
    scored = ScoredClass(scores.numpy().astype(float), labels, np.full(len(labels), np.nan), seed)
    intervals, _ = compute_class_metrics(scored, n_bootstrap=0)
    return [(*key, metric, v.value) for metric, v in intervals.items()]


def _summarize(frame: pl.DataFrame) -> dict:
    means = (
        frame.group_by("wnid", "init", "k", "metric")
        .agg(pl.col("value").mean())
        .sort("wnid", "init", "k")
    )
    out: dict = {}
    for wnid, init, k, metric, value in means.iter_rows():
        out.setdefault(wnid, {}).setdefault(init, {}).setdefault(str(k), {})[metric] = value
    return out
