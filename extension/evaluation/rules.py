"""Decision rules of the protocol: what "positive" means for a row's logit, stated for the page.

Every rule turns one class's scored sample (`ScoredClass`) into boolean decisions; the
threshold-free metrics (AUROC, AP) need none. `compute_class_metrics` gives every metric
with its bootstrap interval; `compute_threshold_free` the point values only, for classes too
small to resample (`extension.evaluation.support`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from contract.registry import Registry
from extension.evaluation.metrics import (
    Interval,
    compute_auroc,
    compute_average_precision,
    compute_best_f1_threshold,
    compute_bootstrap_intervals,
)


@dataclass(frozen=True)
class ScoredClass:
    """One class's sample scored by one row.

    Attributes:
        scores: (N,) the row's logits.
        labels: (N,) True for the class's own images.
        rival: (N,) the best logit among the other classes' trained rows (NaN without a head).
        seed: for rules that split the sample.
    """

    scores: np.ndarray
    labels: np.ndarray
    rival: np.ndarray
    seed: int


RuleFn = Callable[[ScoredClass], np.ndarray]
_RULES: Registry[tuple[RuleFn, str]] = Registry("decision rule")
DEFAULT_RULE = "crossfit"


def register_rule(name: str, statement: str) -> Callable[[RuleFn], RuleFn]:
    """Decorator: a decision rule `fn(scored) -> (N,) bool`, with the sentence the page shows."""

    def decorate(fn: RuleFn) -> RuleFn:
        _RULES.add(name, (fn, statement))
        return fn

    return decorate


def list_rules() -> dict[str, str]:
    """Rule name -> the statement of what 'positive' means under it."""
    return {name: statement for name, (_, statement) in _RULES.items()}


@register_rule(
    "crossfit",
    "Positive when the row's logit is at least a threshold chosen to maximize F1 on the other "
    "half of the class's sample (2-fold, stratified, seeded), so no image's own label sets its "
    "threshold. This is the binary one-vs-rest F-score of the row on its own: a synthesized "
    "row's logit has no meaningful zero or scale (a softmax head is unchanged by shifting all "
    "logits), so a fixed threshold would measure its offset rather than how well it separates.",
)
def _crossfit(scored: ScoredClass) -> np.ndarray:
    rng = np.random.default_rng([scored.seed, 7])
    fold = np.zeros(len(scored.labels), dtype=bool)
    for value in (True, False):
        members = rng.permutation(np.flatnonzero(scored.labels == value))
        fold[members[: len(members) // 2]] = True
    predicted = np.zeros(len(scored.labels), dtype=bool)
    for fit, apply in ((fold, ~fold), (~fold, fold)):
        lab = scored.labels[fit]
        if lab.all() or not lab.any():
            continue
        threshold = compute_best_f1_threshold(lab, scored.scores[fit])
        predicted[apply] = scored.scores[apply] >= threshold
    return predicted


@register_rule(
    "argmax",
    "Positive when the row wins the 1000-way argmax: it replaces its class's trained row (a "
    "new class is appended) and the image goes to the highest logit. This is what a user of "
    "the extended classifier sees; a row whose norm shrank from averaging rarely wins.",
)
def _argmax(scored: ScoredClass) -> np.ndarray:
    return scored.scores > np.nan_to_num(scored.rival, nan=-np.inf)


@register_rule(
    "logit0",
    "Positive when the row's logit is above 0 (sigmoid above 0.5), reading the row alone as a "
    "binary logistic classifier. Shown only for comparison: the zero of a softmax-trained "
    "logit is arbitrary.",
)
def _logit0(scored: ScoredClass) -> np.ndarray:
    return scored.scores > 0


def compute_class_metrics(
    scored: ScoredClass, *, n_bootstrap: int = 1000, confidence: float = 0.95
) -> tuple[dict, dict[str, np.ndarray]]:
    """Every metric with its interval, and each rule's decisions.

    Returns:
        ({metric: Interval}, {rule: (N,) bool}).
    """
    decisions = {name: fn(scored) for name, (fn, _) in _RULES.items()}
    if np.isnan(scored.rival).all():
        decisions.pop("argmax")
    intervals = compute_bootstrap_intervals(
        scored.labels,
        scored.scores,
        decisions,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=scored.seed,
    )
    return intervals, decisions


def compute_threshold_free(scored: ScoredClass) -> dict[str, Interval]:
    """AUROC and AP as point values (no interval: too few positives to resample)."""
    auroc = compute_auroc(scored.labels, scored.scores)
    ap = compute_average_precision(scored.labels, scored.scores)
    return {"auroc": Interval(auroc, auroc, auroc), "ap": Interval(ap, ap, ap)}
