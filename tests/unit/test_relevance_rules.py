"""The paper's rules: exact coefficients on a hand example, thresholds, human overrides."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curation.relevance.rules import (
    DEFAULT_THRESHOLDS,
    compute_class_summary,
    compute_decisions,
    compute_raw_coefficients,
    compute_uniform_coefficients,
)


def _scores(**extra) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "caption_id": [1, 2, 3, 4, 5, 6],
            "wnid": ["a", "a", "a", "b", "b", "b"],
            "p_own": [0.95, 0.92, 0.70, 0.55, 0.40, 0.60],
            "p_mean": [0.10, 0.10, 0.10, 0.10, 0.10, 0.65],
            **extra,
        }
    )


def test_raw_and_uniform_coefficients_by_hand():
    assert compute_raw_coefficients(np.array([0.95, 0.9, 0.7, 0.55])) == pytest.approx(
        [1.0, 1.0, 0.8, 0.65]
    )
    # empirical CDF: #{r_j <= r_i} / n, ties share the highest rank
    assert compute_uniform_coefficients(np.array([1.0, 1.0, 0.8, 0.65])) == pytest.approx(
        [1.0, 1.0, 0.5, 0.25]
    )
    assert compute_uniform_coefficients(np.array([])).size == 0


def test_decisions_drop_below_mean_or_threshold_and_normalise_kept():
    out = compute_decisions(_scores()).sort("caption_id")
    # 5: P 0.40 < 0.5; 6: P 0.60 < mean 0.65
    assert out["model_decision"].to_list() == ["keep", "keep", "keep", "keep", "drop", "drop"]
    assert out["raw_coefficient"].to_list() == pytest.approx([1.0, 1.0, 0.8, 0.65, 0.5, 0.7])
    assert out["coefficient"].to_list()[:4] == pytest.approx([1.0, 1.0, 0.5, 0.25])
    assert out["coefficient"].to_list()[4:] == [None, None]
    assert set(out["decided_by"]) == {"model"}


def test_class_threshold_and_human_decisions_win():
    human = pl.Series("human_decision", [None, "drop", None, None, "keep", None], pl.Utf8)
    out = compute_decisions(_scores(human_decision=human), class_thresholds={"a": 0.8})
    out = out.sort("caption_id")
    # class a at 0.8: caption 3 (0.70) dropped by the model; 2 dropped by a person;
    # 5 kept by a person despite P 0.40 and joins the normalisation with r = 0.5
    assert out["threshold"].to_list() == [0.8, 0.8, 0.8, 0.5, 0.5, 0.5]
    assert out["decision"].to_list() == ["keep", "drop", "drop", "keep", "keep", "drop"]
    assert out["decided_by"].to_list() == ["model", "human", "model", "model", "human", "model"]
    assert out["coefficient"].is_null().to_list() == [False, True, True, False, False, True]
    kept = out.filter(pl.col("decision") == "keep")["coefficient"].to_list()
    assert kept == pytest.approx([1.0, 2 / 3, 1 / 3])


def test_validation_and_class_summary():
    with pytest.raises(ValueError, match="threshold"):
        compute_decisions(_scores(), threshold=1.5)
    with pytest.raises(ValueError, match="p_mean"):
        compute_decisions(_scores().drop("p_mean"))
    summary = compute_class_summary(compute_decisions(_scores()))
    assert summary["wnid"].to_list() == ["b", "a"]
    assert summary["n_dropped"].to_list() == [2, 0]


def _at_threshold(p_own: list[float], p_mean: float = 0.0) -> pl.DataFrame:
    n = len(p_own)
    return pl.DataFrame(
        {
            "caption_id": list(range(1, n + 1)),
            "wnid": ["a"] * n,
            "p_own": p_own,
            "p_mean": [p_mean] * n,
        }
    )


def test_paper_threshold_is_half_and_a_score_exactly_at_it_is_kept():
    out = compute_decisions(_at_threshold([0.49, 0.4999, 0.5, 0.5001, 0.51])).sort("caption_id")
    assert out["threshold"].to_list() == [0.5] * 5  # the default is the paper's 0.5
    assert out["model_decision"].to_list() == ["drop", "drop", "keep", "keep", "keep"]
    assert out["raw_coefficient"].to_list() == pytest.approx([0.59, 0.5999, 0.6, 0.6001, 0.61])
    assert out["coefficient"].to_list() == pytest.approx([None, None, 1 / 3, 2 / 3, 1.0])


def test_frozen_threshold_is_five_hundredths_and_a_score_exactly_at_it_is_kept():
    assert DEFAULT_THRESHOLDS == {"finetune": 0.5, "frozen": 0.05}
    scores = _at_threshold([0.04, 0.0499, 0.05, 0.0501, 0.06, 0.3])
    out = compute_decisions(scores, threshold=DEFAULT_THRESHOLDS["frozen"]).sort("caption_id")
    assert out["threshold"].to_list() == [0.05] * 6
    # at 0.5 (the paper's) all six would be dropped; at 0.05 the last four are kept
    assert out["model_decision"].to_list() == ["drop", "drop", "keep", "keep", "keep", "keep"]
    assert out["coefficient"].to_list() == pytest.approx([None, None, 0.25, 0.5, 0.75, 1.0])


def test_a_score_exactly_at_the_class_mean_is_kept_and_just_below_is_dropped():
    scores = pl.DataFrame(
        {
            "caption_id": [1, 2, 3],
            "wnid": ["a", "a", "a"],
            "p_own": [0.7, 0.6999, 0.95],
            "p_mean": [0.7, 0.7, 0.96],
        }
    )
    out = compute_decisions(scores, threshold=0.5).sort("caption_id")
    assert out["model_decision"].to_list() == ["keep", "drop", "drop"]


def test_coefficients_at_the_full_relevance_cut_and_ties():
    # P >= 0.9 gives r = 1; below, r = P + 0.1 (continuous at 0.9, so '>' would equal '>=').
    raw = compute_raw_coefficients(np.array([0.9, 0.92, 0.8999, 0.85, 0.0]))
    assert raw == pytest.approx([1.0, 1.0, 0.9999, 0.95, 0.1])
    # Ties share the highest rank (side='right'): two r = 0.6 of five share 3/5.
    raw = np.array([0.6, 1.0, 0.6, 0.2, 0.7])
    assert compute_uniform_coefficients(raw) == pytest.approx([0.6, 1.0, 0.6, 0.2, 0.8])


def test_the_suspect_rule_drops_at_and_above_its_threshold_with_literal_values():
    scores = _scores(
        suspect_wrong_class=[0.10, 0.50, 0.49, 0.20, 0.05, 0.70],
        suspect_no_content=[0.20, 0.10, 0.10, 0.51, 0.05, 0.10],
        human_decision=[None, None, None, None, "drop", "keep"],
    )
    decided = compute_decisions(scores, threshold=0.5, rule="suspect")
    # max of the two: 0.20 keep, 0.50 drop (at the threshold), 0.49 keep, 0.51 drop,
    # 0.05 keep, 0.70 drop; the paper's P and mean P play no part here.
    assert decided["model_decision"].to_list() == ["keep", "drop", "keep", "drop", "keep", "drop"]
    assert decided["decision"].to_list() == ["keep", "drop", "keep", "drop", "drop", "keep"]
    per_class = compute_decisions(
        scores, threshold=0.5, class_thresholds={"a": 0.55}, rule="suspect"
    )
    assert per_class["model_decision"].to_list()[:3] == ["keep", "keep", "keep"]
    paper = compute_decisions(scores, threshold=0.5)
    assert paper["model_decision"].to_list() == ["keep", "keep", "keep", "keep", "drop", "drop"]


def test_the_suspect_rule_refuses_scores_without_suspect_scores():
    with pytest.raises(ValueError, match="needs both suspect scores"):
        compute_decisions(_scores(), threshold=0.5, rule="suspect")
    missing = _scores(
        suspect_wrong_class=[0.1] * 6, suspect_no_content=[0.1, None, 0.1, 0.1, 0.1, 0.1]
    )
    with pytest.raises(ValueError, match="score the captions again"):
        compute_decisions(missing, threshold=0.5, rule="suspect")
    with pytest.raises(ValueError, match="Unknown drop rule"):
        compute_decisions(_scores(), threshold=0.5, rule="lenient")
