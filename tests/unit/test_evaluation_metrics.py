"""Binary metrics against small hand-computed examples, and the bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from extension.evaluation.metrics import (
    compute_all_positive_f1,
    compute_auroc,
    compute_average_precision,
    compute_best_f1_threshold,
    compute_bootstrap_intervals,
    compute_decision_metrics,
    compute_pr_curve,
    compute_random_f1,
    compute_roc_curve,
)

LABELS = np.array([True, True, False, False])
SCORES = np.array([0.9, 0.4, 0.6, 0.1])


def test_auroc_counts_ordered_pairs():
    # Pairs (pos, neg): (.9,.6) (.9,.1) (.4,.1) ordered, (.4,.6) not: 3 of 4.
    assert compute_auroc(LABELS, SCORES) == pytest.approx(0.75)


def test_auroc_ties_count_half():
    assert compute_auroc(np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 1.0, 0.0])) == pytest.approx(
        0.875
    )


def test_average_precision_is_mean_precision_at_each_positive():
    # Ranked: .9 (pos) .6 (neg) .4 (pos) .1 (neg): precision 1/1 and 2/3 at the positives.
    assert compute_average_precision(LABELS, SCORES) == pytest.approx((1 + 2 / 3) / 2)


def test_average_precision_groups_tied_scores():
    assert compute_average_precision(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)


def test_decision_metrics_hand_example():
    out = compute_decision_metrics(np.array([1, 1, 1, 0, 0]), np.array([1, 1, 0, 1, 0]))
    assert out == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})


def test_nothing_predicted_gives_zero_not_nan():
    out = compute_decision_metrics(np.array([1, 0]), np.array([0, 0]))
    assert out == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_all_positive_reference_equals_predicting_everything_positive():
    labels = np.array([1] * 3 + [0] * 9)
    measured = compute_decision_metrics(labels, np.ones(12, dtype=bool))["f1"]
    assert compute_all_positive_f1(0.25) == pytest.approx(measured) == pytest.approx(0.4)
    assert compute_all_positive_f1(0.5) == pytest.approx(2 / 3)
    assert compute_random_f1(0.5) == pytest.approx(0.5)


def test_curves_run_from_corner_to_corner():
    roc = compute_roc_curve(LABELS, SCORES)
    assert roc["fpr"].tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert roc["tpr"].tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    # Trapezoid area under the ROC points equals the AUROC.
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(0.75)
    pr = compute_pr_curve(LABELS, SCORES)
    assert pr["recall"][-1] == 1.0 and pr["precision"][0] == 1.0


def test_best_threshold_maximizes_f1():
    # Cut below .9: F1 2/3; below .6: 1/2; below .4: 4/5; below .1: 2/3. Best: between .4 and .1.
    assert compute_best_f1_threshold(LABELS, SCORES) == pytest.approx(0.25)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="both positives and negatives"):
        compute_auroc(np.array([1, 1]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="differ in shape"):
        compute_auroc(np.array([1, 0]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="pos_fraction"):
        compute_all_positive_f1(1.5)


def test_bootstrap_intervals_contain_the_point_and_are_reproducible():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(60, bool), np.zeros(60, bool)]
    scores = rng.normal(size=120) + labels * 1.0
    predicted = {"half": scores > 0.5}
    first = compute_bootstrap_intervals(labels, scores, predicted, n_bootstrap=200, seed=3)
    again = compute_bootstrap_intervals(labels, scores, predicted, n_bootstrap=200, seed=3)
    assert first == again
    assert set(first) == {"auroc", "ap", "precision@half", "recall@half", "f1@half"}
    for interval in first.values():
        assert interval.low <= interval.value <= interval.high
    assert first["auroc"].value == pytest.approx(compute_auroc(labels, scores))
    assert first["auroc"].high - first["auroc"].low > 0.02  # a real interval, not a point


def test_bootstrap_zero_replicates_gives_point_intervals():
    out = compute_bootstrap_intervals(LABELS, SCORES, {}, n_bootstrap=0)
    assert out["auroc"].low == out["auroc"].high == pytest.approx(0.75)
