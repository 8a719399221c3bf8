"""The filtering rules and relevance coefficients (pure functions on frames).

For a caption with P = P(own class) and M = the mean probability over all classes:

1. The drop rule of the model version (`DROP_RULES`): the paper's drops when P < M or P < t,
   where t = 0.5 or the class's own threshold; 'suspect' drops when the larger of the
   caption's two suspect scores (wrong class, no class content; `issues.py`) is >= t, with its
   own thresholds (default `SUSPECT_THRESHOLD`).
2. A kept caption gets a raw coefficient r = 1 when P >= 0.9, else r = P + 0.1.
3. Coefficients are made uniform on (0, 1] with the empirical CDF over all kept captions:
   c_i = #{j kept : r_j <= r_i} / n_kept. Ties share the highest rank, so every caption with
   P >= 0.9 gets exactly 1, the smallest r gets >= 1/n_kept > 0, and the order of r is kept.
4. A person's keep/drop wins over 1. A caption a person keeps takes part in step 3 with its
   own r; one a person drops gets no coefficient.
"""

from __future__ import annotations

import numpy as np
import polars as pl

GLOBAL_THRESHOLD = 0.5
# A frozen-mode head's sigmoid outputs over ~1000 classes sit lower than the paper's
# fine-tuned model's: at 0.5 its out-of-sample scores drop 45 % of the default captions,
# clearly relevant ones among them. 0.05 won on half A of the default captions (best F1 of
# dropping 10 % flipped labels among 0.5, 0.3, 0.2, 0.1, 0.05); benchmarks/bench_noise.py
# reports it on half B. A model version's own stored threshold always wins.
FROZEN_THRESHOLD = 0.05
DEFAULT_THRESHOLDS = {"finetune": GLOBAL_THRESHOLD, "frozen": FROZEN_THRESHOLD}
# 'paper': P(own) below the mean P or below t; 'suspect': max(suspect_wrong_class,
# suspect_no_content) >= t. Each rule keeps its own thresholds.
DROP_RULES = ("paper", "suspect")
DROP_RULE_LABELS = {
    "paper": "The paper's: P(own class) below the mean P over classes, or below the threshold",
    "suspect": "Suspect scores: wrong class or no class content at or above the threshold",
}
# The suspect scores are logistic blends fitted on 10 % noise. The threshold with the best F1
# on half A of the 10 % mix (a 0.05 grid; benchmarks/bench_label_issues.py, all captions); on
# half B it drops with F1 0.819 (precision 0.790, recall 0.849) where 0.65 gave 0.812
# (0.824 / 0.801).
SUSPECT_THRESHOLD = 0.55
FULL_RELEVANCE = 0.9
RELEVANCE_BONUS = 0.1


def compute_raw_coefficients(p_own: np.ndarray) -> np.ndarray:
    """r = 1 where P >= 0.9, else P + 0.1. Shape (N,) -> (N,)."""
    p_own = np.asarray(p_own, dtype=np.float64)
    return np.where(p_own >= FULL_RELEVANCE, 1.0, p_own + RELEVANCE_BONUS)


def compute_uniform_coefficients(raw: np.ndarray) -> np.ndarray:
    """Empirical CDF of `raw` at each value: #{j : raw_j <= raw_i} / N, in (0, 1]."""
    raw = np.asarray(raw, dtype=np.float64)
    if raw.size == 0:
        return raw.copy()
    ordered = np.sort(raw)
    return np.searchsorted(ordered, raw, side="right") / raw.size


def compute_decisions(
    scores: pl.DataFrame,
    *,
    threshold: float = GLOBAL_THRESHOLD,
    class_thresholds: dict[str, float] | None = None,
    rule: str = "paper",
) -> pl.DataFrame:
    """Apply the rules to scored captions.

    Args:
        scores: columns caption_id, wnid, p_own, p_mean (and, for the suspect rule,
            suspect_wrong_class and suspect_no_content), and optionally human_decision
            ('keep' | 'drop' | null).
        threshold: the global threshold (paper: on P, 0.5; suspect: on the suspect score).
        class_thresholds: wnid -> threshold replacing the global one for that class.
        rule: 'paper' or 'suspect' (`DROP_RULES`).

    Returns:
        `scores` plus threshold, model_decision, decision, decided_by ('model' | 'human'),
        raw_coefficient and coefficient (null for dropped captions).
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    missing = {"caption_id", "wnid", "p_own", "p_mean"} - set(scores.columns)
    if missing:
        raise ValueError(f"scores lack columns {sorted(missing)}")
    if rule not in DROP_RULES:
        raise ValueError(f"Unknown drop rule {rule!r}; known: {list(DROP_RULES)}")
    if rule == "suspect":
        check_suspect_scores(scores)
    if "human_decision" not in scores.columns:
        scores = scores.with_columns(pl.lit(None, pl.Utf8).alias("human_decision"))
    return _compute_decisions(scores, threshold, class_thresholds or {}, rule)


def check_suspect_scores(scores: pl.DataFrame) -> None:
    """The suspect rule needs both suspect scores of every caption."""
    columns = ("suspect_wrong_class", "suspect_no_content")
    missing = [c for c in columns if c not in scores.columns]
    if missing or any(scores[c].null_count() for c in columns):
        raise ValueError(
            "The suspect-score rule needs both suspect scores of every caption; these scores "
            "lack them (scored before the suspect scores existed, or a model with one class): "
            "score the captions again, or use the paper's rule."
        )


def _model_keeps(rule: str) -> pl.Expr:
    """The model's keep condition of a drop rule, against the row's `threshold`."""
    if rule == "suspect":
        worst = pl.max_horizontal("suspect_wrong_class", "suspect_no_content")
        return worst < pl.col("threshold")
    return (pl.col("p_own") >= pl.col("p_mean")) & (pl.col("p_own") >= pl.col("threshold"))


def _compute_decisions(
    scores: pl.DataFrame, threshold: float, per_class: dict, rule: str
) -> pl.DataFrame:
    frame = scores.with_columns(
        pl.col("wnid")
        .replace_strict(per_class, default=threshold, return_dtype=pl.Float64)
        .alias("threshold")
    )
    model_keep = _model_keeps(rule)
    frame = frame.with_columns(
        pl.when(model_keep).then(pl.lit("keep")).otherwise(pl.lit("drop")).alias("model_decision")
    ).with_columns(
        pl.coalesce("human_decision", "model_decision").alias("decision"),
        pl.when(pl.col("human_decision").is_not_null())
        .then(pl.lit("human"))
        .otherwise(pl.lit("model"))
        .alias("decided_by"),
    )
    raw = compute_raw_coefficients(frame["p_own"].to_numpy())
    kept = frame["decision"].to_numpy() == "keep"
    coefficient = np.full(frame.height, np.nan)
    coefficient[kept] = compute_uniform_coefficients(raw[kept])
    return frame.with_columns(
        pl.Series("raw_coefficient", raw),
        pl.Series("coefficient", coefficient).fill_nan(None),
    )


def compute_class_summary(decisions: pl.DataFrame) -> pl.DataFrame:
    """Per class: n_kept, n_dropped, n_human, mean_p_own; sorted by the share dropped."""
    return (
        decisions.group_by("wnid")
        .agg(
            (pl.col("decision") == "keep").sum().alias("n_kept"),
            (pl.col("decision") == "drop").sum().alias("n_dropped"),
            (pl.col("decided_by") == "human").sum().alias("n_human"),
            pl.col("p_own").mean().alias("mean_p_own"),
        )
        .with_columns(
            (pl.col("n_dropped") / (pl.col("n_kept") + pl.col("n_dropped"))).alias("share_dropped")
        )
        .sort(["share_dropped", "wnid"], descending=[True, False])
    )


RANKINGS = {
    "wrong-class": "filed under the wrong class: highest suspect_wrong_class first",
    "no-content": "says nothing about any class: highest suspect_no_content first",
    "paper": "the paper's signal: lowest P(own class) first",
}


def compute_ranking(
    decisions: pl.DataFrame,
    *,
    kind: str = "wrong-class",
    wnid: str | None = None,
    include_reviewed: bool = False,
) -> pl.DataFrame:
    """Captions ordered from most to least suspect, over every class (or one).

    Args:
        decisions: `compute_decisions` output with suggested_wnid, p_suggested and the
            suspect columns (`issues.py`); rows without a suspect score (scored before it
            existed) come last on those rankings.
        kind: 'wrong-class' (suspect_wrong_class, ties: the suggested class's share),
            'no-content' (suspect_no_content) or 'paper' (P(own) ascending, ties: the
            suggested class's P descending).
        include_reviewed: also list captions a person kept, dropped or relabelled.

    Raises:
        ValueError: unknown kind (the message names the kinds).
    """
    if kind not in RANKINGS:
        raise ValueError(f"kind must be one of {sorted(RANKINGS)}, got {kind!r}")
    frame = decisions if wnid is None else decisions.filter(pl.col("wnid") == wnid)
    if not include_reviewed:
        frame = frame.filter(pl.col("decided_by") != "human")
        if "relabelled" in frame.columns:
            frame = frame.filter(~pl.col("relabelled").fill_null(False))
    if kind == "paper":
        return frame.sort(["p_own", "p_suggested", "caption_id"], descending=[False, True, False])
    column = "suspect_wrong_class" if kind == "wrong-class" else "suspect_no_content"
    tie = "suggested_share" if kind == "wrong-class" else "p_own"
    return frame.sort(
        [column, tie, "caption_id"],
        descending=[True, kind == "wrong-class", False],
        nulls_last=True,
    )


def compute_most_likely_wrong(
    decisions: pl.DataFrame, *, wnid: str | None = None, include_reviewed: bool = False
) -> pl.DataFrame:
    """The paper's ranking (`compute_ranking(kind='paper')`): P(own class) ascending."""
    return compute_ranking(decisions, kind="paper", wnid=wnid, include_reviewed=include_reviewed)
