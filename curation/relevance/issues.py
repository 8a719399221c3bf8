"""Two kinds of suspicion per caption, from the model's out-of-sample probabilities over
every class, with cleanlab's label-quality scores (cleanlab 2.9; nothing of it re-implemented):

- `suspect_wrong_class`: "is this caption filed under the wrong class, and which is right?"
  High when the model puts the caption in another class with confidence (the suggested
  class, and `suggested_share`: how sure, as its share of the row-normalized probability).
- `suspect_no_content`: "does this caption say anything about any class?" High when the
  model's probabilities are flat over the classes and no class's sigmoid fires.

Both are in [0, 1], higher = more suspect, comparable across classes: each is a logistic
blend of per-caption features (cleanlab's `self_confidence`, `normalized_margin`,
`confidence_weighted_entropy` via `cleanlab.rank.get_label_quality_scores`, the normalized
entropy from `cleanlab.internal.label_quality_utils.get_normalized_entropy`, the raw sigmoid
P(own) and max P, and two per-class calibrated features: a caption's log P(own) and margin
minus its class's median, so a fine-grained class such as a dog breed, whose captions are all
less sure, is not suspect as a whole; and whether the caption names its own class or only
another class of the model, `curation/relevance/class_names.py`: a husky filed as a malamute
whose author wrote "husky"). The blend weights were fitted on half A of each class's
default captions with injected noise and are reported on half B
(`benchmarks/bench_label_issues.py`, results in `benchmarks/results/label_issues.md`).

`compute_label_issue_flags` is cleanlab's `cleanlab.filter.find_label_issues`
(filter_by='confident_learning') on the row-normalized probabilities; it is refused for
probabilities that are not out of sample (a fine-tune run's training captions).

The sigmoid outputs of the paper's head are row-normalized (each row divided by its sum)
before cleanlab sees them, as cleanlab expects probabilities that sum to 1 over the classes.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12
CLEANLAB_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
FEATURES = (
    "self_confidence",
    "normalized_margin",
    "confidence_weighted_entropy",
    "normalized_entropy",
    "log_p_own",
    "log_p_max",
    "log_p_sum",
    "log_p_own_vs_class",
    "margin_vs_class",
    "names_own",
    "names_other",
)
NAME_FEATURES = ("names_own", "names_other")  # 0 where the class names are not known
# Logistic weights over FEATURES (and an intercept), fitted with scikit-learn's
# LogisticRegression on half A of the default captions (10 % noise: WordNet-sibling and
# random flips for the wrong class, no-class-content captions for the other) on standardized
# features and folded back to raw features. Written by benchmarks/bench_label_issues.py.
WRONG_CLASS_WEIGHTS: dict[str, float] = {
    "self_confidence": -7.742937906099687,
    "normalized_margin": 2.2005815143297114,
    "confidence_weighted_entropy": 1.3377579893971023,
    "normalized_entropy": -2.4306881692949682,
    "log_p_own": -0.5768919190936951,
    "log_p_max": 0.6644415336875829,
    "log_p_sum": 0.09570655667152858,
    "log_p_own_vs_class": -0.21133142218831094,
    "margin_vs_class": 0.9633288842201271,
    "names_own": -3.161349364443142,
    "names_other": 1.6638356721450696,
    "intercept": -3.1701123443158443,
}
NO_CONTENT_WEIGHTS: dict[str, float] = {
    "self_confidence": 0.26485184354601055,
    "normalized_margin": 4.9267871078430385,
    "confidence_weighted_entropy": -5.578871987843661,
    "normalized_entropy": 49.93361244099929,
    "log_p_own": -0.3376572991305894,
    "log_p_max": -1.3924436517392231,
    "log_p_sum": 6.913329772352597,
    "log_p_own_vs_class": -0.42005871458403876,
    "margin_vs_class": 6.231262376204995,
    "names_own": -2.798389252398044,
    "names_other": -4.345238162068736,
    "intercept": -53.97009524111547,
}


def check_probabilities(pred_probs: np.ndarray, labels: np.ndarray) -> None:
    """Refuse what cleanlab cannot score, with what is missing.

    Args:
        pred_probs: (N, C) sigmoid (or softmax) outputs, one column per class.
        labels: (N,) the row of each caption's class.

    Raises:
        ValueError: not 2-D, lengths differ, fewer than 2 classes, a label outside 0..C-1,
            or values outside [0, 1].
    """
    pred_probs = np.asarray(pred_probs)
    if pred_probs.ndim != 2:
        raise ValueError(f"pred_probs must be (N, C), got shape {pred_probs.shape}")
    n, n_classes = pred_probs.shape
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} rows of probabilities")
    if n_classes < 2:
        raise ValueError(
            "The model version has one class: a caption cannot be in another class, so there "
            "is no wrong-class or no-content score. Train on two classes or more."
        )
    if n and (int(np.min(labels)) < 0 or int(np.max(labels)) >= n_classes):
        raise ValueError(f"labels must be class rows in 0..{n_classes - 1}")
    if n and (float(np.min(pred_probs)) < 0.0 or float(np.max(pred_probs)) > 1.0):
        raise ValueError("pred_probs must be probabilities in [0, 1]")


def compute_row_normalized(pred_probs: np.ndarray) -> np.ndarray:
    """(N, C) each row divided by its sum (float64), as cleanlab expects."""
    probs = np.asarray(pred_probs, dtype=np.float64)
    return probs / np.maximum(probs.sum(axis=1, keepdims=True), EPS)


def compute_issue_features(
    pred_probs: np.ndarray, labels: np.ndarray, names: dict | None = None
) -> dict[str, np.ndarray]:
    """The per-caption features the two suspect scores blend (pure).

    Args:
        pred_probs: (N, C) out-of-sample sigmoid outputs. labels: (N,) class rows.
        names: `class_names.compute_name_mentions` of the captions (names_own, names_other,
            (N,) each); None = class names unknown, both 0.

    Returns:
        FEATURES -> (N,) float64, plus suggested (N,) int64 (argmax row) and
        suggested_share (N,) (its row-normalized probability: how sure the model is).
    """
    from cleanlab.internal.label_quality_utils import get_normalized_entropy
    from cleanlab.rank import get_label_quality_scores

    check_probabilities(pred_probs, labels)
    labels = np.asarray(labels, dtype=np.int64)
    raw = np.asarray(pred_probs, dtype=np.float64)
    normalized = compute_row_normalized(raw)
    rows = np.arange(len(labels))
    out = {m: get_label_quality_scores(labels, normalized, method=m) for m in CLEANLAB_METHODS}
    out["normalized_entropy"] = get_normalized_entropy(normalized)
    out["log_p_own"] = np.log(np.maximum(raw[rows, labels], EPS))
    out["log_p_max"] = np.log(np.maximum(raw.max(axis=1), EPS))
    out["log_p_sum"] = np.log(np.maximum(raw.sum(axis=1), EPS))
    out["log_p_own_vs_class"] = out["log_p_own"] - _class_medians(out["log_p_own"], labels)
    out["margin_vs_class"] = out["normalized_margin"] - _class_medians(
        out["normalized_margin"], labels
    )
    for name in NAME_FEATURES:
        out[name] = np.zeros(len(labels)) if names is None else _check_length(names[name], labels)
    out["suggested"] = normalized.argmax(axis=1)
    out["suggested_share"] = normalized[rows, out["suggested"]]
    return out


def _check_length(values, labels: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if len(values) != len(labels):
        raise ValueError(f"{len(values)} name mentions for {len(labels)} captions")
    return values


def _class_medians(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N,) the median of `values` over each row's class (the per-class calibration)."""
    medians = np.zeros(len(values))
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1], True])
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        part = order[start:stop]
        medians[part] = np.median(values[part])
    return medians


def compute_blend(features: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """(N,) sigmoid(sum_f w_f * feature_f + intercept), in (0, 1)."""
    logit = np.full(len(features[FEATURES[0]]), float(weights.get("intercept", 0.0)))
    for name in FEATURES:
        logit += float(weights.get(name, 0.0)) * features[name]
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0)))


def compute_suspect_scores(
    pred_probs: np.ndarray,
    labels: np.ndarray,
    *,
    names: dict | None = None,
    wrong_class_weights: dict[str, float] | None = None,
    no_content_weights: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """The two suspect scores of each caption (higher = more suspect, in [0, 1]).

    Args:
        pred_probs: (N, C) out-of-sample sigmoid outputs over every class of the model.
        labels: (N,) each caption's class row.
        names: the captions' class-name mentions (see `compute_issue_features`).

    Returns:
        (N,) arrays suspect_wrong_class, suspect_no_content, suggested (argmax row) and
        suggested_share (its share of the row-normalized probability).

    Raises:
        ValueError: see `check_probabilities`.
    """
    features = compute_issue_features(pred_probs, labels, names)
    return {
        "suspect_wrong_class": compute_blend(features, wrong_class_weights or WRONG_CLASS_WEIGHTS),
        "suspect_no_content": compute_blend(features, no_content_weights or NO_CONTENT_WEIGHTS),
        "suggested": features["suggested"],
        "suggested_share": features["suggested_share"],
    }


def find_short_classes(labels: np.ndarray, n_classes: int, folds: int) -> np.ndarray:
    """Class rows with captions, but fewer than `folds` of them: cleanlab needs at least one
    caption per class and fold. Classes without any caption here are not short."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    return np.flatnonzero((counts > 0) & (counts < max(int(folds), 1)))


def describe_short_classes(labels: np.ndarray, short: np.ndarray, folds: int) -> str:
    """One line naming the short classes (rows, caption counts) and what cleanlab needs."""
    if not len(short):
        return "No caption to flag: cleanlab needs at least one caption per class and fold."
    counts = np.bincount(np.asarray(labels, dtype=np.int64))[short[:5]].tolist()
    return (
        f"{len(short)} classes have fewer captions than the {folds} folds (class rows "
        f"{short[:5].tolist()}, with {counts} captions): cleanlab needs at least one caption "
        "per class and fold, so their captions get no cleanlab flag. Train on classes with "
        "enough captions to flag them too."
    )


def compute_label_issue_flags(
    pred_probs: np.ndarray,
    labels: np.ndarray,
    *,
    out_of_sample: np.ndarray | None,
    folds: int = 1,
) -> np.ndarray:
    """cleanlab's `find_label_issues(filter_by='confident_learning')` on the row-normalized
    probabilities: (N,) True where cleanlab flags the label.

    Args:
        out_of_sample: (N,) whether each row came from a model that did not train on it
            (None = unknown). Every row must be out of sample.
        folds: the cross-fitting folds; each class needs at least this many captions.

    Raises:
        ValueError: a row is not (or not known to be) out of sample, fewer than 2 classes,
            or a class has fewer captions than folds (named).
    """
    check_probabilities(pred_probs, labels)
    if out_of_sample is None or not bool(np.all(np.asarray(out_of_sample, dtype=bool))):
        n_in = len(labels) if out_of_sample is None else int((~np.asarray(out_of_sample)).sum())
        raise ValueError(
            f"{n_in} of {len(labels)} probabilities are not known to be out of sample (e.g. a "
            "fine-tune run's training split): cleanlab's find_label_issues needs out-of-sample "
            "probabilities, so it is not run on them. Use frozen mode (cross-fitted) or score "
            "test-split captions only."
        )
    labels = np.asarray(labels, dtype=np.int64)
    short = find_short_classes(labels, np.asarray(pred_probs).shape[1], folds)
    if len(short) or not len(labels):
        raise ValueError(describe_short_classes(labels, short, folds))
    from cleanlab.filter import find_label_issues

    return find_label_issues(
        labels, compute_row_normalized(pred_probs), filter_by="confident_learning", n_jobs=1
    )
