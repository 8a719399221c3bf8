"""What an image set can support, said before a run: per-class numbers or a pooled figure.

A per-class binary F1, and a bootstrap interval around any per-class metric, need several
images of the class: with one photo per class (the shipped sample photos) every threshold rule
and every interval is meaningless (an "F1 0.00, CI [1.0, 1.0]"). Below `MIN_POSITIVES` images
of a class, the protocol therefore ranks all of the set's images with the class's row (its
own images against every other image) and reports only that one-vs-rest AUROC per class, and
the mean over those classes as the pooled figure with a bootstrap interval over classes. The
few-shot baseline needs more images of each class than its largest k (some stay for testing).
"""

from __future__ import annotations

import numpy as np
import polars as pl

MIN_POSITIVES = 5
PER_CLASS, POOLED = "per-class", "pooled"


def compute_pooled_reason(min_positives: int = MIN_POSITIVES) -> str:
    """The sentence that says why a class gets only a pooled, threshold-free figure."""
    return (
        f"fewer than {min_positives} images of the class: no per-class F1 or interval is "
        "computed; its row ranks every image of the set (its own against all others) for a "
        "one-vs-rest AUROC, and the mean over such classes (pooled) is shown instead"
    )


def compute_class_support(
    labels: np.ndarray, classes: list[str], *, min_positives: int = MIN_POSITIVES
) -> pl.DataFrame:
    """Per class: images of it and of the others in the set, and how it will be evaluated.

    Args:
        labels: (N,) class id of every image of the set.
        classes: the classes to evaluate.

    Returns:
        Columns `wnid`, `n_images`, `n_others`, `support` ('per-class' | 'pooled' | 'none'),
        `reason`.
    """
    labels = np.asarray(labels)
    rows = []
    for wnid in classes:
        n_own = int((labels == wnid).sum())
        n_others = int(len(labels) - n_own)
        if n_own == 0 or n_others == 0:
            support, reason = "none", "the set has no image of the class, or none of another"
        elif n_own < min_positives:
            support, reason = POOLED, compute_pooled_reason(min_positives)
        else:
            support, reason = PER_CLASS, f"{n_own} images of the class: per-class metrics"
        rows.append((wnid, n_own, n_others, support, reason))
    return pl.DataFrame(
        rows, schema=["wnid", "n_images", "n_others", "support", "reason"], orient="row"
    )


def compute_fewshot_support(labels: np.ndarray, classes: list[str], shots: list[int]) -> str | None:
    """Why the few-shot baseline cannot run on this set, or None when it can."""
    if not shots or not classes:
        return "choose at least one class and one k"
    labels, k = np.asarray(labels), max(shots)
    short = [w for w in classes if int((labels == w).sum()) <= k]
    if short:
        return (
            f"k = {k} needs more than {k} images of each class (some are kept for testing); "
            f"{len(short)} of the chosen classes have fewer, e.g. {', '.join(short[:3])}"
        )
    return None


def compute_pooled_auroc(
    per_class: dict[str, list[float]], *, n_bootstrap: int, confidence: float, seed: int
) -> dict[str, dict]:
    """Mean one-vs-rest AUROC over classes per head, with a bootstrap interval over classes.

    Args:
        per_class: head -> AUROC of each pooled class (same class order for every head).

    Returns:
        head -> {'value', 'low', 'high', 'n_classes'}.
    """
    out = {}
    rng = np.random.default_rng(seed)
    for head, values in per_class.items():
        values = np.asarray(values, dtype=float)
        mean = float(values.mean())
        low = high = mean
        if n_bootstrap and len(values) > 1:
            draws = rng.choice(values, (n_bootstrap, len(values))).mean(axis=1)
            tail = (1 - confidence) / 2 * 100
            low, high = (float(x) for x in np.percentile(draws, [tail, 100 - tail]))
        out[head] = {
            "value": mean,
            "low": min(low, mean),
            "high": max(high, mean),
            "n_classes": int(len(values)),
        }
    return out
