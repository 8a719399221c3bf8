"""Experiment (issue 19): does naming a class help the wrong-class ranking?

Beside the blend's probability features, a caption gets `names_own` (it names its own
class's lemma) and `names_other` (it names another class and that class only), from
`curation/relevance/class_names.py`; with --gain also `named_other_gain` (how much more the
model believes the named other class than the label: max(0, log P(named) - log P(own)), 0
where none is named; this retrains every set to get its probabilities back). The blends are
fitted on half A (as bench_label_issues) and reported on half B, whole default, 10 % sets;
last, a nonlinear second stage (HistGradientBoosting) on the same features.

Usage: .venv/bin/python benchmarks/experiments/name_mentions.py [--gain]
Results: benchmarks/results/name_mentions.txt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from benchmarks import bench_label_issues as bli  # noqa: E402
from benchmarks.bench_noise import DEFAULT_DB  # noqa: E402
from curation.relevance import issues  # noqa: E402

KINDS = ("neighbour", "random", "no-content", "mix")


def add_name_features(data: dict, noise: dict, probs: np.ndarray | None) -> dict:
    """`data` with names_own, names_other (and named_other_gain when probs are given)."""
    names = noise["names"]
    out = {**data, "names_own": names["names_own"], "names_other": names["names_other"]}
    if probs is not None:
        own = np.log(np.maximum(probs[np.arange(len(probs)), noise["labels"]], 1e-12))
        gain = np.zeros(len(probs))
        for i, rows in enumerate(names["named_other"]):
            if rows:
                gain[i] = max(0.0, float(np.log(max(probs[i, rows].max(), 1e-12)) - own[i]))
        out["named_other_gain"] = gain
    return out


def fit_and_report(sets: dict, a, b, features: tuple[str, ...]) -> list[str]:
    saved = issues.FEATURES
    issues.FEATURES = features  # the bench's fit/rank read the feature list from the module
    try:
        weights = {
            "wrong": bli.fit_blend([sets["neighbour"], sets["random"]], [a, a], "wrong"),
            "empty": bli.fit_blend([sets["no-content"]], [a], "empty"),
        }
        lines = []
        for kind in KINDS:
            report = bli.report_set(sets[kind], b, weights)
            for target, rankings in report.items():
                if not isinstance(rankings, dict) or "blend max of both" not in rankings:
                    continue
                name = "blend max of both" if kind == "mix" else "blend suspect_wrong_class"
                if kind == "no-content":
                    name = "blend suspect_no_content"
                m = rankings[name]
                lines.append(
                    f"{kind:10s} {target:12s} {name:26s} AUROC {m['auroc']:.4f} AP "
                    f"{m['ap']:.3f} prec@rec0.8 {m['precision_at_recall_80']:.3f}"
                )
        return lines
    finally:
        issues.FEATURES = saved


def second_stage(sets: dict, a, b) -> list[str]:
    """scikit-learn's HistGradientBoosting on the library's features (names included), fitted
    on half A of the sibling + random sets: does a nonlinear second stage beat the blend?"""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.concatenate([bli.feature_matrix(sets[k])[a] for k in ("neighbour", "random")])
    y = np.concatenate([sets[k]["wrong"][a] for k in ("neighbour", "random")])
    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, random_state=0)
    model.fit(x, y)
    lines = []
    for kind in ("neighbour", "random"):
        score = model.predict_proba(bli.feature_matrix(sets[kind])[b])[:, 1]
        m = bli.compute_metrics(score, sets[kind]["wrong"][b], 1)
        lines.append(
            f"{kind:10s} wrong class  HistGradientBoosting       AUROC {m['auroc']:.4f} AP "
            f"{m['ap']:.3f} prec@rec0.8 {m['precision_at_recall_80']:.3f}"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gain", action="store_true")
    args = parser.parse_args()
    setup = bli.SubsetSetup(DEFAULT_DB, REPO_ROOT / ".cache" / "text-features", 0)
    neighbours = bli.compute_neighbours(setup.dataset.class_wnids)
    sets = {}
    for kind in KINDS:
        data = bli.load_or_score(setup, kind, 0.10, neighbours)["data"]
        noise = bli.inject_noise(setup, kind, 0.10, neighbours, bli.make_noise_rng(kind, 0.10))
        assert np.array_equal(noise["labels"], data["labels"]), "noise set differs from cache"
        probs = (
            bli.train_probs(setup, noise["labels"], noise["x"])[0]["probs"] if args.gain else None
        )
        sets[kind] = add_name_features(data, noise, probs)
    a, b = np.flatnonzero(setup.half_a), np.flatnonzero(~setup.half_a)
    without = tuple(f for f in issues.FEATURES if f not in issues.NAME_FEATURES)
    variants = {"probabilities only (the blend before the names)": without}
    variants["+ names_own, names_other"] = issues.FEATURES
    if args.gain:
        variants["+ names_own, names_other, named_other_gain"] = (
            *variants["+ names_own, names_other"],
            "named_other_gain",
        )
    lines = [f"# {Path(__file__).name}{' --gain' if args.gain else ''}: half B, 10 % sets"]
    for name, features in variants.items():
        lines += ["", f"## {name}", *fit_and_report(sets, a, b, features)]
    lines += ["", "## second stage on the library's features", *second_stage(sets, a, b)]
    text = "\n".join(lines) + "\n"
    print(text)
    out = REPO_ROOT / "benchmarks" / "results" / "name_mentions.txt"
    out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
