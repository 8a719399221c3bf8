"""The one implementation of every ranking and decision metric of the workbench (numpy).

A score is any real number where larger means "more positive" (a logit); a decision is a
boolean. Tie rule, everywhere: AUROC counts a tied positive/negative pair as one half (ranks
of tied scores are averaged), and AP groups tied scores into one threshold (scikit-learn's
`average_precision_score`), so results do not depend on the order of tied items and match
the usual definitions on small hand-computed examples. Column versions (`*_columns`) score T
rankings at once, for leave-one-out over many classes and for bootstrap replicates.

Also here: the label-free threshold F1 and the 1000-way test of leave-one-out, hit@k, the
reference lines of F1 (random, all-positive), ROC/PR curves and stratified bootstrap intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLD_FREE = ("auroc", "ap")
DECISION_METRICS = ("precision", "recall", "f1")


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap percentile interval."""

    value: float
    low: float
    high: float


def compute_midranks(scores: np.ndarray) -> np.ndarray:
    """(N, T) 1-based ranks of each column, tied scores sharing the mean of their ranks."""
    n = scores.shape[0]
    order = np.argsort(scores, axis=0, kind="stable")
    ordered = np.take_along_axis(scores, order, axis=0)
    position = np.broadcast_to(np.arange(n)[:, None], scores.shape)
    starts_group = np.ones(scores.shape, dtype=bool)
    starts_group[1:] = ordered[1:] != ordered[:-1]
    ends_group = np.ones(scores.shape, dtype=bool)
    ends_group[:-1] = ordered[:-1] != ordered[1:]
    start = np.maximum.accumulate(np.where(starts_group, position, 0), axis=0)
    end = np.minimum.accumulate(np.where(ends_group, position, n - 1)[::-1], axis=0)[::-1]
    ranks = np.empty(scores.shape, dtype=float)
    np.put_along_axis(ranks, order, (start + end) / 2.0 + 1.0, axis=0)
    return ranks


def compute_auroc_columns(scores: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """(T,) AUROC of each column (ties count one half); NaN where a column lacks a class.

    Args:
        scores: (N, T) finite scores. positives: (N, T) or (N, 1) bool.
    """
    positives = np.broadcast_to(positives, scores.shape)
    n_pos = positives.sum(0).astype(float)
    n_neg = scores.shape[0] - n_pos
    rank_sum = (compute_midranks(scores) * positives).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def compute_ap_columns(scores: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """(T,) average precision of each column (tied scores are one threshold); NaN without
    positives. AP = mean over positives of the precision at the end of their tie group."""
    positives = np.broadcast_to(positives, scores.shape)
    n = scores.shape[0]
    order = np.argsort(-scores, axis=0, kind="stable")
    ordered = np.take_along_axis(scores, order, axis=0)
    hits = np.take_along_axis(positives, order, axis=0)
    ends_group = np.ones(scores.shape, dtype=bool)
    ends_group[:-1] = ordered[:-1] != ordered[1:]
    position = np.broadcast_to(np.arange(n)[:, None], scores.shape)
    end = np.minimum.accumulate(np.where(ends_group, position, n - 1)[::-1], axis=0)[::-1]
    true_pos = np.cumsum(hits, axis=0)
    precision_at_end = np.take_along_axis(true_pos, end, axis=0) / (end + 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (precision_at_end * hits).sum(0) / hits.sum(0)


def compute_auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties count ½.

    Raises:
        ValueError: labels hold only one class, or bad shapes / values.
    """
    labels, scores = _check_scored(labels, scores)
    return float(compute_auroc_columns(scores[:, None], labels[:, None])[0])


def compute_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision: sum over distinct thresholds of (R_n - R_{n-1}) * P_n (scikit-learn's).

    Raises:
        ValueError: labels hold only one class, or bad shapes / values.
    """
    labels, scores = _check_scored(labels, scores)
    return float(compute_ap_columns(scores[:, None], labels[:, None])[0])


def compute_all_positive_f1(pos_fraction: float) -> float:
    """F1 of predicting every item positive: precision p, recall 1, so 2p / (1 + p).

    0.667 on a balanced set: the reference line an F1 must clear to mean anything.
    """
    if not 0.0 <= pos_fraction <= 1.0:
        raise ValueError(f"pos_fraction must be in [0, 1], got {pos_fraction}")
    return 2 * pos_fraction / (1 + pos_fraction)


def compute_random_f1(pos_fraction: float) -> float:
    """Expected F1 of a coin flip (positive with probability 1/2): 2p·½ / (p + ½); 0.5 balanced."""
    if not 0.0 <= pos_fraction <= 1.0:
        raise ValueError(f"pos_fraction must be in [0, 1], got {pos_fraction}")
    return pos_fraction / (pos_fraction + 0.5)


def compute_decision_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of boolean decisions (0 where undefined, as scikit-learn).

    Args:
        labels: (N,) bool, True = positive.
        predicted: (N,) bool decisions.
    """
    labels, predicted = _as_bool(labels, "labels"), _as_bool(predicted, "predicted")
    if labels.shape != predicted.shape:
        raise ValueError(f"labels {labels.shape} and predicted {predicted.shape} differ in shape")
    counts = _prf(np.sum(labels & predicted), predicted.sum(), labels.sum())
    return {k: float(v) for k, v in counts.items()}


def _prf(tp, n_predicted, n_positive) -> dict[str, np.ndarray]:
    """Precision, recall, F1 from counts (scalars or arrays); 0 where undefined."""
    tp, n_predicted, n_positive = (
        np.asarray(x, dtype=float) for x in (tp, n_predicted, n_positive)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(n_predicted > 0, tp / n_predicted, 0.0)
        recall = np.where(n_positive > 0, tp / n_positive, 0.0)
        total = n_predicted + n_positive
        f1 = np.where(total > 0, 2 * tp / total, 0.0)
    return {"precision": precision, "recall": recall, "f1": f1}


def compute_roc_curve(labels: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """ROC points from (0, 0) to (1, 1), one per distinct threshold.

    Returns:
        fpr, tpr (K+1,) and threshold (K+1,), the first threshold +inf.
    """
    labels, scores = _check_scored(labels, scores)
    tps, fps, thresholds = _cumulative_counts(labels, scores)
    return {
        "fpr": np.concatenate([[0.0], fps / fps[-1]]),
        "tpr": np.concatenate([[0.0], tps / tps[-1]]),
        "threshold": np.concatenate([[np.inf], thresholds]),
    }


def compute_pr_curve(labels: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Precision-recall points, one per distinct threshold, from high to low threshold."""
    labels, scores = _check_scored(labels, scores)
    tps, fps, thresholds = _cumulative_counts(labels, scores)
    return {"recall": tps / tps[-1], "precision": tps / (tps + fps), "threshold": thresholds}


def _cumulative_counts(labels: np.ndarray, scores: np.ndarray):
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    # The last index of each run of tied scores: one threshold per distinct score.
    ends = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(sorted_scores) - 1]
    tps = np.cumsum(sorted_labels)[ends].astype(float)
    fps = (ends + 1 - tps).astype(float)
    return tps, fps, sorted_scores[ends]


def compute_best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """A threshold (predict positive when score >= it) with the highest F1 on these items.

    The best cut lies between the best distinct score and the next lower one; the midpoint
    is returned, so items scored between them elsewhere are not all lost to one side. Ties go
    to the higher threshold. Used on a calibration split only, never on test labels.
    """
    labels, scores = _check_scored(labels, scores)
    tps, fps, thresholds = _cumulative_counts(labels, scores)
    f1 = 2 * tps / (tps + fps + tps[-1])
    best = int(np.argmax(f1))
    if best + 1 < len(thresholds):
        return float((thresholds[best] + thresholds[best + 1]) / 2)
    return float(thresholds[best])


def compute_bootstrap_intervals(
    labels: np.ndarray,
    scores: np.ndarray,
    predicted: dict[str, np.ndarray],
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Point estimates and stratified bootstrap percentile intervals.

    Positives and negatives are resampled separately (with replacement, same counts), so
    every replicate keeps the set's balance and AUROC/AP stay defined. All replicates are
    scored at once (one column each).

    Args:
        labels: (N,) bool.
        scores: (N,) float, for 'auroc' and 'ap'.
        predicted: rule name -> (N,) bool decisions, for '<metric>@<rule>' entries.
        n_bootstrap: replicates (0: intervals equal the point estimate).
        confidence: interval mass, e.g. 0.95.

    Returns:
        'auroc', 'ap' and 'precision@rule', 'recall@rule', 'f1@rule' for every rule.
    """
    labels, scores = _check_scored(labels, scores)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    decisions = {rule: _as_bool(p, f"predicted[{rule!r}]") for rule, p in predicted.items()}
    point = {
        k: float(v[0]) for k, v in _compute_replicates(labels, scores, decisions, None).items()
    }
    if not n_bootstrap:
        return {name: Interval(value, value, value) for name, value in point.items()}
    samples = _compute_replicates(
        labels, scores, decisions, _draw_replicates(labels, n_bootstrap, seed)
    )
    tail = (1.0 - confidence) / 2 * 100
    out = {}
    for name, value in point.items():
        low, high = np.percentile(samples[name], [tail, 100 - tail])
        out[name] = Interval(value, min(float(low), value), max(float(high), value))
    return out


def _draw_replicates(labels: np.ndarray, n_bootstrap: int, seed: int) -> np.ndarray:
    """(B, N) indices: per replicate, positives resampled among positives, then negatives."""
    pos_idx, neg_idx = np.flatnonzero(labels), np.flatnonzero(~labels)
    rng = np.random.default_rng(seed)
    return np.stack(
        [
            np.concatenate([rng.choice(pos_idx, len(pos_idx)), rng.choice(neg_idx, len(neg_idx))])
            for _ in range(n_bootstrap)
        ]
    )


def _compute_replicates(labels, scores, decisions, idx) -> dict[str, np.ndarray]:
    """Every metric per replicate column; `idx` (B, N) resamples, None = the items as given."""
    if idx is None:
        idx = np.arange(len(labels))[None, :]
    lab, sco = labels[idx].T, scores[idx].T  # (N, B)
    out = {"auroc": compute_auroc_columns(sco, lab), "ap": compute_ap_columns(sco, lab)}
    n_positive = lab.sum(0)
    for rule, pred in decisions.items():
        p = pred[idx].T
        for metric, value in _prf((lab & p).sum(0), p.sum(0), n_positive).items():
            out[f"{metric}@{rule}"] = value
    return out


def compute_one_vs_rest(
    scores: np.ndarray, positives: np.ndarray, *, n_classes: int
) -> dict[str, np.ndarray]:
    """AUROC, AP and label-free threshold F1 of each column (leave-one-out over classes).

    Args:
        scores: (N, T) logits of T rows on N images.
        positives: (N, T) bool, True for the column's own images (each column has some).
        n_classes: K, the number of classes in the image pool.

    Returns:
        dict of (T,) arrays `auroc`, `ap`, `f1`.
    """
    scores, positives = np.asarray(scores, dtype=float), np.asarray(positives, dtype=bool)
    return {
        "auroc": compute_auroc_columns(scores, positives),
        "ap": compute_ap_columns(scores, positives),
        "f1": compute_threshold_f1(scores, positives, n_classes=n_classes),
    }


def compute_threshold_f1(
    scores: np.ndarray, positives: np.ndarray, *, n_classes: int
) -> np.ndarray:
    """(T,) F1 at a label-free threshold: the `1 - 1/K` quantile of each column's scores, so
    the row flags as many images as one of the K classes of the pool is expected to have."""
    scores, positives = np.asarray(scores, dtype=float), np.asarray(positives, dtype=bool)
    threshold = np.quantile(scores, 1.0 - 1.0 / max(n_classes, 1), axis=0)
    flagged = scores > threshold[None, :]
    return _prf((flagged & positives).sum(0), flagged.sum(0), positives.sum(0))["f1"]


def compute_thousand_way(
    trained_logits: np.ndarray,
    scores: np.ndarray,
    replace: np.ndarray,
    positives: np.ndarray,
) -> dict[str, np.ndarray]:
    """Each synthesized row competing with all other trained rows in the argmax.

    recall = top-1 share of the class's own images (top-5: within the 5 best; i.e. hit@1 and
    hit@5 among the C candidates: the synthesized row and the C - 1 other trained rows),
    precision = own images among all images the row wins (0 when it wins none), F1 from both.

    Args:
        trained_logits: (N, C_all) logits of the full trained head.
        scores: (N, T) logits of the synthesized rows.
        replace: (T,) the head row each synthesized row replaces (its own class).
        positives: (N, T) bool own images.

    Returns:
        dict of (T,) arrays `top1`, `top5`, `precision`, `f1`, `n_won` (images won).
    """
    trained_logits, scores = np.asarray(trained_logits, float), np.asarray(scores, float)
    positives, replace = np.asarray(positives, bool), np.asarray(replace)
    k = min(6, trained_logits.shape[1])
    top_idx = np.argpartition(-trained_logits, k - 1, axis=1)[:, :k]  # (N, k), any order
    top_vals = np.take_along_axis(trained_logits, top_idx, axis=1)
    own = top_idx[:, None, :] == replace[None, :, None]  # (N, T, k)
    rank = ((top_vals[:, None, :] > scores[:, :, None]) & ~own).sum(2)  # rows above, capped
    win = rank == 0
    n_pos = np.maximum(positives.sum(0), 1)
    top1 = (win & positives).sum(0) / n_pos
    top5 = ((rank < 5) & positives).sum(0) / n_pos
    n_won = win.sum(0)
    precision = (win & positives).sum(0) / np.maximum(n_won, 1)
    f1 = compute_win_f1(win, positives)
    return {"top1": top1, "top5": top5, "precision": precision, "f1": f1, "n_won": n_won}


def compute_win_f1(win: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """(T,) F1 of each row from the images it wins the argmax on: 2 TP / (won + own images).

    Args:
        win: (N, T) bool, the row has the largest logit on the image.
        positives: (N, T) bool, the row's own images.
    """
    return _prf((win & positives).sum(0), win.sum(0), positives.sum(0))["f1"]


def compute_hit_at_k(
    scores: np.ndarray, true_index: np.ndarray, *, ks: tuple[int, ...] = (1, 5)
) -> dict[int, np.ndarray]:
    """Whether each item's true candidate is among its k best (DGP/GCNZ hit@k).

    Ties count against the true candidate only when strictly better scores fill the k slots.

    Args:
        scores: (N, K) scores of the K candidates on N items.
        true_index: (N,) column of each item's true candidate.

    Returns:
        k -> (N,) bool.
    """
    scores, true_index = np.asarray(scores, float), np.asarray(true_index)
    own = np.take_along_axis(scores, true_index[:, None], axis=1)  # (N, 1)
    above = (scores > own).sum(1)  # candidates strictly better than the true one
    return {k: above < k for k in ks}


def _as_bool(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must be boolean or 0/1")
    return array.astype(bool)


def _check_scored(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = _as_bool(labels, "labels")
    scores = np.asarray(scores, dtype=float)
    if scores.shape != labels.shape:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} differ in shape")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    if labels.all() or not labels.any():
        raise ValueError("labels must hold both positives and negatives")
    return labels, scores
