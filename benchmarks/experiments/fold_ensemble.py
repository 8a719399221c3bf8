"""Experiment (issue 19, not adopted): do several cross-fitted trainings, averaged, rank
sibling flips better? (Measured: 3 seeds lift the blend's AUROC from 0.9650 to 0.9655 and
precision at recall 0.8 from 0.642 to 0.647: not worth three trainings.)

The product's suspect scores come from one cross-fitted training (5 folds, one seed). Here the
same 10 % WordNet-sibling noise set of `benchmarks/bench_label_issues.py` (every caption of the
default) is trained with K seeds (other fold splits and initialisations); the out-of-sample
probabilities are averaged, and the library's suspect_wrong_class blend and cleanlab's
normalized margin are computed on the average. Half B only (the blend weights are the
library's, fitted on half A). Output: benchmarks/results/fold_ensemble.txt.

Usage:
    .venv/bin/python benchmarks/experiments/fold_ensemble.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from benchmarks import run_record  # noqa: E402
from benchmarks.bench_label_issues import (  # noqa: E402
    SEED,
    SubsetSetup,
    compute_neighbours,
    inject_noise,
    make_noise_rng,
)
from benchmarks.bench_noise import DEFAULT_DB  # noqa: E402
from benchmarks.dev_db import build_dev_database  # noqa: E402
from curation.relevance import frozen, issues  # noqa: E402
from curation.relevance.specs import FrozenHeadSpec  # noqa: E402
from extension.evaluation.metrics import compute_auroc  # noqa: E402


def train_probs_with_seed(setup, labels, x, seed: int, head=None) -> np.ndarray:
    """(N, C) cross-fitted out-of-sample sigmoid outputs of one training with `seed` (and
    `head`, the default FrozenHeadSpec when None)."""
    head = head or FrozenHeadSpec()
    folds = frozen.compute_folds(labels, folds=head.folds, seed=seed)
    heads = frozen.train_cross_fitted_heads(
        x,
        labels,
        folds.astype(np.int32),
        n_classes=setup.n_classes,
        spec=head,
        seed=seed,
        extra_features=setup.features.sentences,
        extra_labels=setup.features.sentence_labels,
    )
    return frozen.compute_head_outputs(x, labels, heads, folds, keep_probs=True)["probs"]


def evaluate(probs: np.ndarray, noise: dict, rows: np.ndarray) -> dict:
    """AUROC and precision at recall 0.8 on `rows` of the blend and of cleanlab's margin."""
    feats = issues.compute_issue_features(probs, noise["labels"], noise["names"])
    scores = {
        "suspect_wrong_class": issues.compute_blend(feats, issues.WRONG_CLASS_WEIGHTS),
        "cleanlab normalized_margin": -feats["normalized_margin"],
    }
    truth = noise["wrong"][rows]
    out = {}
    for name, score in scores.items():
        order = np.argsort(-score[rows], kind="stable")
        hits = np.cumsum(truth[order])
        need = int(np.ceil(0.8 * truth.sum()))
        at = int(np.searchsorted(hits, need)) + 1
        out[name] = (compute_auroc(truth.astype(int), score[rows]), need / at)
    return out


def format_result(result: dict) -> str:
    """'name AUROC / precision at recall 0.8; ...' of `evaluate`'s result."""
    return "; ".join(f"{n} {a:.4f} / {r:.3f}" for n, (a, r) in result.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=REPO_ROOT / ".cache" / "text-features")
    args = parser.parse_args(argv)
    setup = SubsetSetup(build_dev_database(DEFAULT_DB), args.cache_dir, 0)
    neighbours = compute_neighbours(setup.dataset.class_wnids)
    rng = make_noise_rng("neighbour", 0.10)
    noise = inject_noise(setup, "neighbour", 0.10, neighbours, rng)
    b = np.flatnonzero(~setup.half_a)
    lines = [
        f"Command: {run_record.describe_command('experiments/fold_ensemble.py', argv)}",
        f"10 % sibling flips, {len(setup.labels):,} captions; half B: {len(b):,} captions, "
        f"{int(noise['wrong'][b].sum()):,} flipped. AUROC / precision at recall 0.8.",
        "",
    ]
    total = None
    for k in range(args.seeds):
        started = time.perf_counter()
        probs = train_probs_with_seed(setup, noise["labels"], noise["x"], SEED + k)
        seconds = time.perf_counter() - started
        total = probs if total is None else total + probs
        candidates = [(f"seed {k} alone", probs)]
        if k:
            candidates.append((f"mean of {k + 1} seeds", total / (k + 1)))
        for label, p in candidates:
            lines.append(
                f"{label} (training {seconds:.0f} s): {format_result(evaluate(p, noise, b))}"
            )
            print(lines[-1], flush=True)
    out = REPO_ROOT / "benchmarks" / "results" / "fold_ensemble.txt"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
