"""The paper's protocol: trained vs synthesized rows as binary classifiers of one class.

For every evaluated class, `n` positives (its own images) and `n` negatives (images of
other classes, including any negative-only sets) are drawn with a seed, each capped by what
the sets hold. Every head (the trained row, and the row each synthesis method builds
leave-one-out, or the stored row of an added class) scores those images with its logit
`x @ w + b`. Threshold-free: AUROC and AP of that score. Binary precision, recall and F1 under
every registered decision rule (`extension.evaluation.rules`; the dashboard states the one it
shows). References: random ranking (AUROC 0.5, F1 0.5 on balanced sets) and predicting
everything positive (F1 = 2p / (1 + p), 0.667 balanced). Bootstrap percentile intervals
resample positives and negatives separately. A class with too few images for any of that is
evaluated against every other image, threshold-free only (`extension.evaluation.support`).
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import numpy as np
import polars as pl
import torch

from contract.devices import resolve_device
from contract.progress import Progress, no_progress, scale_progress
from db import evaluation as eval_db
from db import image_sets as set_db
from db.classes import get_class_names
from db.storage import get_storage
from extension.evaluation.heads import compute_eval_rows
from extension.evaluation.metrics import compute_all_positive_f1
from extension.evaluation.rules import (
    DEFAULT_RULE,
    ScoredClass,
    compute_class_metrics,
    compute_threshold_free,
    list_rules,
)
from extension.evaluation.support import (
    PER_CLASS,
    POOLED,
    compute_pooled_auroc,
    compute_pooled_reason,
)
from extension.images.sets import load_set_features, run_embed_image_set
from extension.models import BaseClassifier, load_base_classifier
from extension.specs import EmbedSpec, EvalSpec
from extension.text.store import ensure_text_stats


def compute_class_sample(
    labels: np.ndarray,
    wnid: str,
    *,
    n: int,
    seed: int,
    positive_pool: np.ndarray | None = None,
    balanced: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of up to `n` positives and `n` negatives of one class, reproducible.

    The generator is seeded by (seed, crc32(wnid)), so a class's sample does not depend on
    which other classes are evaluated.

    Args:
        labels: (N,) class id of every pooled image.
        positive_pool: (N,) bool, where positives may come from (default everywhere).
        balanced: draw only as many negatives as there are positives (keeps p = 0.5, so the
            reference lines are 0.5 and 0.667, when the class has fewer than n images).

    Returns:
        (positive indices, negative indices), each sorted.

    Raises:
        ValueError: n < 1, or the class has no images or no negatives.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    labels = np.asarray(labels)
    allowed = (
        np.ones(len(labels), dtype=bool) if positive_pool is None else np.asarray(positive_pool)
    )
    pos_pool = np.flatnonzero((labels == wnid) & allowed)
    neg_pool = np.flatnonzero(labels != wnid)
    if not len(pos_pool) or not len(neg_pool):
        held = sorted(set(labels.tolist()))
        raise ValueError(
            f"Class {wnid}: {len(pos_pool)} images of the class and {len(neg_pool)} others; need "
            f"both. The image set holds {len(held)} classes, e.g. {', '.join(held[:5])}: choose "
            "classes it holds (--classes, or the class picker)."
        )
    rng = np.random.default_rng([seed, zlib.crc32(wnid.encode())])
    pos = rng.choice(pos_pool, min(n, len(pos_pool)), replace=False)
    n_neg = min(n, len(neg_pool), len(pos) if balanced else n)
    neg = rng.choice(neg_pool, n_neg, replace=False)
    return np.sort(pos), np.sort(neg)


def run_evaluation(
    con, spec: EvalSpec, progress: Progress | None = None, *, cache_dir: Path | None = None
) -> dict:
    """Run the protocol, store it as one run, and return its summary (job entry point).

    Returns:
        `run_id`, `rules`, `references` and `classes`: {wnid: {name, n_pos, n_neg, methods:
        {method: {metric: {value, low, high}}}}}, the numbers the dashboard shows.
    """
    cache_dir = get_storage(con, cache_dir=cache_dir).cache
    report = progress or no_progress
    _validate(con, spec)
    start = time.perf_counter()
    if spec.methods:
        ensure_text_stats(con, scale_progress(report, 0.0, 0.02))
    report(0.0, "loading the base classifier")
    base = load_base_classifier(spec.model, cache_dir=cache_dir)
    device = resolve_device(spec.device)
    features, items = _load_pool(con, spec, base, cache_dir, report)
    report(0.35, "synthesizing rows")
    rows = compute_eval_rows(con, base, list(spec.classes), spec.methods, device=device)
    logits = features @ base.head.weight.T + base.head.bias  # (N, C)
    results, score_frames = {}, []
    names = get_class_names(con, list(rows.targets))
    for i, wnid in enumerate(rows.targets):
        report(0.4 + 0.55 * i / len(rows.targets), f"class {names.get(wnid, wnid)} ({wnid})")
        results[wnid], frames = _evaluate_class(spec, features, items, logits, rows, i)
        score_frames += frames
    summary = _summary(con, spec, results, time.perf_counter() - start)
    run_id = eval_db.insert_eval_run(
        con,
        kind="protocol",
        name=spec.name or _default_name(con, spec, results),
        image_set_id=spec.image_set_id,
        model_key=base.model_key,
        spec_json=spec.to_json(),
        summary=summary,
        classes=_class_frame(summary),
        metrics=_metric_frame(results),
        scores=pl.concat(score_frames),
    )
    report(1.0, f"run {run_id} stored")
    return {"run_id": run_id, **summary}


def _evaluate_class(spec: EvalSpec, features, items: pl.DataFrame, logits, rows, i: int):
    """One class: its sample, every head's metrics, and the per-image score frames.

    A class with fewer than `spec.min_positives` images is ranked against every other image of
    the pool, and gets only threshold-free point values (see `extension.evaluation.support`).
    """
    wnid = rows.targets[i]
    labels = items["wnid"].to_numpy()
    in_main_set = (items["set_id"] == spec.image_set_id).to_numpy()
    pooled = int(((labels == wnid) & in_main_set).sum()) < spec.min_positives
    if pooled:
        pos = np.flatnonzero((labels == wnid) & in_main_set)
        neg = np.flatnonzero(labels != wnid)
    else:
        pos, neg = compute_class_sample(
            labels,
            wnid,
            n=spec.n,
            seed=spec.seed,
            balanced=spec.balanced,
            positive_pool=in_main_set,
        )
    if not len(pos) or not len(neg):
        raise ValueError(f"Class {wnid}: {len(pos)} images of the class and {len(neg)} others.")
    idx = np.concatenate([pos, neg])
    rival = _rival(logits[idx], rows.replaces[wnid])
    entry = {
        "n_pos": len(pos),
        "n_neg": len(neg),
        "row_source": rows.row_source[wnid],
        "support": POOLED if pooled else PER_CLASS,
        "methods": {},
    }
    frames = []
    for method, (weight, bias) in rows.rows.items():
        if torch.isnan(weight[i]).any():
            continue
        scores = (features[idx] @ weight[i] + bias[i]).numpy().astype(float)
        scored = ScoredClass(scores, np.arange(len(idx)) < len(pos), rival, spec.seed)
        if pooled:
            intervals, decisions = compute_threshold_free(scored), {}
        else:
            intervals, decisions = compute_class_metrics(
                scored, n_bootstrap=spec.n_bootstrap, confidence=spec.confidence
            )
        entry["methods"][method] = {k: vars(v) for k, v in intervals.items()}
        frames.append(_score_frame(wnid, method, items[idx], scored, decisions))
    return entry, frames


def _validate(con, spec: EvalSpec) -> None:
    if not spec.classes:
        raise ValueError("Choose at least one class to evaluate.")
    if spec.n < 1 or spec.n_bootstrap < 0:
        raise ValueError(
            f"n must be >= 1 and n_bootstrap >= 0, got n={spec.n}, n_bootstrap={spec.n_bootstrap}"
        )
    for set_id in (spec.image_set_id, *spec.negative_sets):
        if set_db.get_image_set(con, set_id) is None:
            raise ValueError(
                f"Image set {set_id} does not exist; register it first (workbench image-sets add)."
            )


def _load_pool(con, spec: EvalSpec, base: BaseClassifier, cache_dir: Path, report: Progress):
    """Features and items of the main set and the negative-only sets (embedded first)."""
    feats, frames = [], []
    set_ids = (spec.image_set_id, *[s for s in spec.negative_sets if s != spec.image_set_id])
    for k, set_id in enumerate(set_ids):
        state = set_db.get_embedding_state(con, set_id, base.model_key)
        if state is None or state["status"] != "complete":
            run_embed_image_set(
                con,
                EmbedSpec(set_id, model=spec.model, device=spec.device),
                scale_progress(report, 0.3 * k / len(set_ids), 0.3 * (k + 1) / len(set_ids)),
                cache_dir=cache_dir,
                model=base.model,
            )
        f, items = load_set_features(con, set_id, base.model_key, cache_dir=cache_dir)
        feats.append(f)
        frames.append(items.with_columns(pl.lit(set_id, dtype=pl.Int64).alias("set_id")))
    return torch.cat(feats), pl.concat(frames)


def _rival(logits: torch.Tensor, replaced: int | None) -> np.ndarray:
    if replaced is not None:
        logits = logits.clone()
        logits[:, replaced] = -torch.inf
    return logits.max(dim=1).values.numpy().astype(float)


def _score_frame(
    wnid, method, items: pl.DataFrame, scored: ScoredClass, decisions: dict
) -> pl.DataFrame:
    rules = [[r for r, d in decisions.items() if d[j]] for j in range(len(scored.scores))]
    return pl.DataFrame(
        {
            "wnid": wnid,
            "method": method,
            "set_id": items["set_id"],
            "item_idx": items["item_idx"],
            "label": scored.labels,
            "score": scored.scores,
            "positive_rules": rules,
        },
        schema_overrides={"positive_rules": pl.List(pl.Utf8)},
    )


def _summary(con, spec: EvalSpec, results: dict, seconds: float) -> dict:
    names = get_class_names(con, list(results))
    for wnid, entry in results.items():
        entry["name"] = names.get(wnid, wnid)
        p = entry["n_pos"] / (entry["n_pos"] + entry["n_neg"])
        entry["references"] = {
            "random_auroc": 0.5,
            "random_f1": p / (p + 0.5),
            "random_ap": p,
            "all_positive_f1": compute_all_positive_f1(p),
        }
    return {
        "rules": list_rules(),
        "default_rule": DEFAULT_RULE,
        "seconds": round(seconds, 2),
        "n": spec.n,
        "seed": spec.seed,
        "classes": results,
        "pooled": _pooled_summary(spec, results),
    }


def _pooled_summary(spec: EvalSpec, results: dict) -> dict:
    """The mean AUROC over the classes too small for per-class figures, per head."""
    small = [w for w, e in results.items() if e["support"] == POOLED]
    if not small:
        return {}
    heads = [
        h for h in results[small[0]]["methods"] if all(h in results[w]["methods"] for w in small)
    ]
    per_class = {h: [results[w]["methods"][h]["auroc"]["value"] for w in small] for h in heads}
    return {
        "classes": small,
        "reason": compute_pooled_reason(spec.min_positives),
        "auroc": compute_pooled_auroc(
            per_class, n_bootstrap=spec.n_bootstrap, confidence=spec.confidence, seed=spec.seed
        ),
    }


def _default_name(con, spec: EvalSpec, results: dict) -> str:
    """'<set> · 4 classes · pooled over 4 classes (4 images) · seed 0': the sizes the numbers
    were computed on, not the n asked for (a pooled class never draws `spec.n` images)."""
    image_set = set_db.get_image_set(con, spec.image_set_id)
    return " · ".join(
        [image_set["name"], f"{len(results)} classes", *compute_sample_sizes(results)]
        + [f"seed {spec.seed}"]
    )


def compute_sample_sizes(results: dict) -> list[str]:
    """The positives per class actually drawn for per-class figures, and the classes and
    images behind the pooled figure, as short phrases for a run's name."""
    per_class = [e["n_pos"] for e in results.values() if e["support"] == PER_CLASS]
    pooled = [e["n_pos"] for e in results.values() if e["support"] == POOLED]
    parts = []
    if per_class:
        low, high = min(per_class), max(per_class)
        parts.append(f"n={low} per class" if low == high else f"n={low}-{high} per class")
    if pooled:
        parts.append(f"pooled over {len(pooled)} classes ({sum(pooled)} images)")
    return parts


def _class_frame(summary: dict) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (w, e["name"], e["row_source"], e["n_pos"], e["n_neg"])
            for w, e in summary["classes"].items()
        ],
        schema=["wnid", "name", "row_source", "n_pos", "n_neg"],
        orient="row",
    )


def _metric_frame(results: dict) -> pl.DataFrame:
    rows = [
        (wnid, method, metric, v["value"], v["low"], v["high"])
        for wnid, entry in results.items()
        for method, metrics in entry["methods"].items()
        for metric, v in metrics.items()
    ]
    return pl.DataFrame(
        rows, schema=["wnid", "method", "metric", "value", "ci_low", "ci_high"], orient="row"
    )
