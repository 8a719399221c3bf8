"""Binary classification metrics on scores and decisions, with bootstrap confidence intervals.

Pure numpy, no model: a score is any real number where larger means "more positive" (a
logit), a decision is a boolean. Ties are handled like scikit-learn (AUROC counts a tied
positive/negative pair as half; AP groups tied scores into one threshold), so the numbers
match the usual definitions exactly on small hand-computed examples.
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
    tp = float(np.sum(labels & predicted))
    return _prf(tp, float(predicted.sum()), float(labels.sum()))


def _prf(tp: float, n_predicted: float, n_positive: float) -> dict[str, float]:
    precision = tp / n_predicted if n_predicted else 0.0
    recall = tp / n_positive if n_positive else 0.0
    f1 = 2 * tp / (n_predicted + n_positive) if (n_predicted + n_positive) else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def compute_auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties count ½.

    Raises:
        ValueError: labels hold only one class.
    """
    labels, scores = _check_scored(labels, scores)
    return _compute_auroc(scores[labels], scores[~labels])


def _compute_auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    neg_sorted = np.sort(neg)
    below = np.searchsorted(neg_sorted, pos, side="left")
    not_above = np.searchsorted(neg_sorted, pos, side="right")
    return float((below + not_above).sum() / (2.0 * len(pos) * len(neg)))


def compute_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision: sum over distinct thresholds of (R_n - R_{n-1}) * P_n (scikit-learn's).

    Raises:
        ValueError: labels hold only one class.
    """
    labels, scores = _check_scored(labels, scores)
    tps, fps, _ = _cumulative_counts(labels, scores)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))


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
    every replicate keeps the set's balance and AUROC/AP stay defined.

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
    point = _compute_replicate(labels, scores, decisions, np.arange(len(labels)))
    pos_idx, neg_idx = np.flatnonzero(labels), np.flatnonzero(~labels)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {name: [] for name in point}
    for _ in range(n_bootstrap):
        idx = np.concatenate([rng.choice(pos_idx, len(pos_idx)), rng.choice(neg_idx, len(neg_idx))])
        for name, value in _compute_replicate(labels, scores, decisions, idx).items():
            samples[name].append(value)
    tail = (1.0 - confidence) / 2 * 100
    out = {}
    for name, value in point.items():
        if n_bootstrap:
            low, high = np.percentile(samples[name], [tail, 100 - tail])
            low, high = min(float(low), value), max(float(high), value)
        else:
            low = high = value
        out[name] = Interval(value, low, high)
    return out


def _compute_replicate(labels, scores, decisions, idx) -> dict[str, float]:
    lab, sco = labels[idx], scores[idx]
    out = {"auroc": _compute_auroc(sco[lab], sco[~lab]), "ap": compute_average_precision(lab, sco)}
    n_positive = float(lab.sum())
    for rule, pred in decisions.items():
        p = pred[idx]
        for metric, value in _prf(float(np.sum(lab & p)), float(p.sum()), n_positive).items():
            out[f"{metric}@{rule}"] = value
    return out


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
