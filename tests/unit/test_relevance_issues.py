"""The two suspect scores and cleanlab's flags on small synthetic probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from curation.relevance import issues


def _probs(n_per_class: int = 20, n_classes: int = 4, seed: int = 0):
    """Sigmoid-like outputs: own class high, others low; labels (N,)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    probs = rng.uniform(0.001, 0.02, size=(len(labels), n_classes))
    probs[np.arange(len(labels)), labels] = rng.uniform(0.6, 0.95, size=len(labels))
    return probs, labels


def test_wrong_class_caption_ranks_first_and_names_its_class():
    probs, labels = _probs()
    probs[3] = [0.01, 0.02, 0.9, 0.01]  # filed under class 0, the model says class 2
    scores = issues.compute_suspect_scores(probs, labels)
    assert int(np.argmax(scores["suspect_wrong_class"])) == 3
    assert scores["suggested"][3] == 2
    assert scores["suggested_share"][3] > 0.9


def test_no_content_caption_ranks_first_on_its_own_list_not_on_wrong_class():
    probs, labels = _probs()
    probs[5] = [0.004, 0.003, 0.004, 0.003]  # nothing fires, flat over the classes
    probs[3] = [0.01, 0.02, 0.9, 0.01]  # a confident other class
    scores = issues.compute_suspect_scores(probs, labels)
    assert int(np.argmax(scores["suspect_no_content"])) == 5
    assert scores["suspect_no_content"][5] > scores["suspect_no_content"][3]
    assert scores["suspect_wrong_class"][3] > scores["suspect_wrong_class"][5]


def test_scores_are_in_unit_interval_and_comparable_across_class_difficulty():
    probs, labels = _probs(n_per_class=30)
    probs[labels == 1] *= 0.3  # a hard (fine-grained) class: every caption less sure
    scores = issues.compute_suspect_scores(probs, labels)
    for key in ("suspect_wrong_class", "suspect_no_content"):
        assert np.all((scores[key] >= 0) & (scores[key] <= 1))


def test_class_median_features_are_relative_to_the_class():
    probs, labels = _probs(n_per_class=11)
    feats = issues.compute_issue_features(probs, labels)
    for row in range(4):
        assert np.median(feats["log_p_own_vs_class"][labels == row]) == pytest.approx(0.0)


def test_find_label_issues_flags_the_flipped_caption():
    probs, labels = _probs(n_per_class=30)
    probs[3] = [0.01, 0.02, 0.95, 0.01]
    flags = issues.compute_label_issue_flags(
        probs, labels, out_of_sample=np.ones(len(labels), bool), folds=5
    )
    assert flags[3] and flags.sum() <= 3


def test_find_label_issues_refuses_in_sample_probabilities():
    probs, labels = _probs()
    oos = np.ones(len(labels), bool)
    oos[:10] = False  # a fine-tune run's training split
    with pytest.raises(ValueError, match="not known to be out of sample"):
        issues.compute_label_issue_flags(probs, labels, out_of_sample=oos)
    with pytest.raises(ValueError, match="not known to be out of sample"):
        issues.compute_label_issue_flags(probs, labels, out_of_sample=None)


def test_classes_with_fewer_captions_than_folds_are_named():
    probs, labels = _probs(n_per_class=3)
    with pytest.raises(ValueError, match="fewer captions than the 5 folds"):
        issues.compute_label_issue_flags(
            probs, labels, out_of_sample=np.ones(len(labels), bool), folds=5
        )
    probs, labels = _probs(n_per_class=20)
    labels[labels == 3] = 2  # class 3 has no caption here: not short
    labels[0] = 3  # ... now one: short
    assert issues.find_short_classes(labels, 4, 5).tolist() == [3]
    assert issues.find_short_classes(labels[1:], 4, 5).tolist() == []


def test_one_class_is_refused_with_what_is_missing():
    with pytest.raises(ValueError, match="one class"):
        issues.compute_suspect_scores(np.full((5, 1), 0.9), np.zeros(5, dtype=int))


def test_bad_shapes_and_values_are_refused():
    probs, labels = _probs()
    with pytest.raises(ValueError, match="labels for"):
        issues.compute_suspect_scores(probs, labels[:-1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        issues.compute_suspect_scores(probs * 10, labels)


def test_a_caption_naming_another_class_is_more_suspect_than_its_twin_naming_its_own():
    probs, labels = _probs()
    names = {"names_own": np.ones(len(labels)), "names_other": np.zeros(len(labels))}
    names["names_own"][7], names["names_other"][7] = 0.0, 1.0  # e.g. "husky" under malamute
    probs[7] = probs[8]  # the same probabilities as a caption of its class that names it
    scores = issues.compute_suspect_scores(probs, labels, names=names)
    assert scores["suspect_wrong_class"][7] > scores["suspect_wrong_class"][8]
    assert (
        scores["suspect_no_content"][7]
        < issues.compute_suspect_scores(probs, labels)["suspect_no_content"][7]
    )  # naming a class is content
    with pytest.raises(ValueError, match="name mentions for"):
        issues.compute_suspect_scores(probs, labels, names={k: v[:3] for k, v in names.items()})
