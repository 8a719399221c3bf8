"""The paper's rules: exact coefficients on a hand example, thresholds, human overrides."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curation.relevance.rules import (
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
