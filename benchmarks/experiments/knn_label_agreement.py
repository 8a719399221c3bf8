"""Experiment (not adopted): do kNN and centroid label-agreement features of the caption
embeddings lift the label-issue blend of `benchmarks/bench_label_issues.py`?

On the same 10 % noise sets and cached out-of-sample probabilities as `bench_label_issues.py
--per-class 0` (every caption of the default), it adds to the blend's features: the
similarity-weighted share of a caption's K nearest captions (cosine, all-MiniLM features)
that carry its label, the largest share of another label, their mean similarity, and the
margin of its own class centroid (leave-self-out) over the nearest other centroid. Blends are
fitted on half A and reported on half B, as in the benchmark.

Usage: .venv/bin/python benchmarks/experiments/knn_label_agreement.py [K]  (needs the cache
of a `bench_label_issues.py --per-class 0` run). Output: stdout, copied to
benchmarks/results/label_issues_knn.txt.
"""

# ruff: noqa: E402, E501  (an experiment script: imports after the path set-up, long prints)
import sys
import time
from pathlib import Path as _P

sys.path.insert(0, str(_P(__file__).resolve().parents[2]))

import numpy as np

from benchmarks import bench_label_issues as B
from curation.relevance import issues

K = int(sys.argv[1]) if len(sys.argv) > 1 else 20
setup = B.SubsetSetup(
    B.DEFAULT_DB,
    B.REPO_ROOT / ".cache" / "text-features",
    0,
)
neighbours = B.compute_neighbours(setup.dataset.class_wnids)
a, b = np.flatnonzero(setup.half_a), np.flatnonzero(~setup.half_a)
C = setup.n_classes


def knn_feats(x, labels, k=K):
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    x = x.astype(np.float32)
    n = len(x)
    own = np.zeros(n)
    other = np.zeros(n)
    dens = np.zeros(n)
    # centroids from given labels
    cent = np.zeros((C, x.shape[1]), np.float64)
    np.add.at(cent, labels, x)
    cnt = np.bincount(labels, minlength=C).astype(float)
    c_own = np.zeros(n)
    c_other = np.zeros(n)
    for s in range(0, n, 4096):
        e = min(n, s + 4096)
        sims = x[s:e] @ x.T
        sims[np.arange(e - s), np.arange(s, e)] = -np.inf
        idx = np.argpartition(-sims, k, axis=1)[:, :k]
        sv = np.take_along_axis(sims, idx, 1)
        lab = labels[idx]
        w = np.maximum(sv, 0) + 1e-6
        mine = labels[s:e]
        own[s:e] = (w * (lab == mine[:, None])).sum(1) / w.sum(1)
        # max other label share
        for r in range(e - s):
            m = lab[r] != mine[r]
            if m.any():
                other[s + r] = np.bincount(lab[r][m], weights=w[r][m]).max() / w[r].sum()
        dens[s:e] = sv.mean(1)
        # centroid cosine, own class excluding self
        cs = x[s:e].astype(np.float64) @ cent.T  # (b, C)
        own_c = (cs[np.arange(e - s), mine] - 1.0) / np.maximum(cnt[mine] - 1, 1)
        cs = cs / np.maximum(cnt, 1)
        cs[np.arange(e - s), mine] = -np.inf
        c_own[s:e] = own_c
        c_other[s:e] = cs.max(1)
    return {"knn_own": own, "knn_other": other, "knn_density": dens, "cent_margin": c_own - c_other}


EXTRA = ["knn_own", "knn_other", "knn_density", "cent_margin"]
sets = {}
for kind in B.KINDS:
    t = time.time()
    rng = B.make_noise_rng(kind, 0.10)
    noise = B.inject_noise(setup, kind, 0.10, neighbours, rng)
    rec = dict(B.load_or_score(setup, kind, 0.10, neighbours)["data"])
    assert (rec["labels"] == noise["labels"]).all()
    rec.update(knn_feats(noise["x"], noise["labels"]))
    sets[kind] = rec
    print(kind, "knn s", round(time.time() - t, 1), flush=True)


def fit(recs, rows, target, feats):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate(
        [np.column_stack([r[f] for f in feats])[i] for r, i in zip(recs, rows, strict=False)]
    )
    y = np.concatenate([r[target][i] for r, i in zip(recs, rows, strict=False)])
    sc = StandardScaler().fit(x)
    m = LogisticRegression(C=1.0, max_iter=3000).fit(sc.transform(x), y)
    return lambda r: m.decision_function(sc.transform(np.column_stack([r[f] for f in feats])))


from extension.evaluation.metrics import compute_auroc

for name, feats in [
    ("base", list(issues.FEATURES)),
    ("+cent", list(issues.FEATURES) + ["cent_margin"]),
    ("+knn", list(issues.FEATURES) + EXTRA),
]:
    w = fit([sets["neighbour"], sets["random"]], [a, a], "wrong", feats)
    e = fit([sets["no-content"]], [a], "empty", feats)
    for kind in B.KINDS:
        r = sets[kind]
        sw, se = w(r), e(r)
        score = {
            "neighbour": sw,
            "random": sw,
            "no-content": se,
            "mix": np.maximum(1 / (1 + np.exp(-sw)), 1 / (1 + np.exp(-se))),
        }[kind]
        t = r["noisy"][b]
        m = B.compute_metrics(score[b], t, int(r["flags"][b].sum()))
        print(
            f"{name:5s} {kind:11s} AUROC {m['auroc']:.4f} AP {m['ap']:.3f} p@r80 {m['precision_at_recall_80']:.3f}"
        )
    for f in EXTRA:
        r = sets["neighbour"]
        s = -r[f] if f in ("knn_own", "cent_margin") else r[f]
        print(
            "  single",
            f,
            "neighbour AUROC",
            round(compute_auroc(r["noisy"][b].astype(int), s[b]), 4),
        )
