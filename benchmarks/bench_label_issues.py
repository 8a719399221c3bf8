"""Benchmark: which captions are wrong, product P(own) vs cleanlab 2.9 vs the product's blend.

On the embedded default (ImageNet-X per-image texts, 999 classes, all-MiniLM-L6-v2 features
from the cache, the frozen mode's default head, 5-fold cross-fitting), each noise set is
injected, the heads are trained on it, and every caption's out-of-sample sigmoid outputs over
all classes are ranked by:

- the product's P(own class) (the paper's signal; ascending);
- cleanlab's `get_label_quality_scores` with method self_confidence, normalized_margin and
  confidence_weighted_entropy, and cleanlab's normalized entropy, on the row-normalized
  probabilities (ascending quality = most suspect first);
- the library's `suspect_wrong_class` and `suspect_no_content` (`curation/relevance/issues.py`,
  a logistic blend of those features and per-class calibrated ones), and their max for a mix.

Noise (5, 10, 20 % of all captions): a label moved to a WordNet sibling (classes sharing the
nearest K-LITE `path_wn` ancestor, else the ImageNet-X metaclass: never chosen with the
model being tested), a label moved to a random class, a caption replaced by text with no class
content (camera, place, date, file name) under its right label, and a mix (40 % sibling, 30 %
random, 30 % no content).

Choosing and reporting: the blend's weights are fitted (scikit-learn LogisticRegression) on
half A of each class's captions of the 10 % sets (wrong class: sibling + random flips; no
content: the no-content set) and every figure in the tables is on half B. cleanlab's
`find_label_issues(filter_by='confident_learning')` gives the flagged count at which precision
and recall are reported. Then one feedback round on the 10 % mix: a curator reviews the top N
of the blend (drops the noisy, keeps the clean), the heads retrain without the drops, and the
captions nobody reviewed are ranked again. Last, the suspect drop rule's threshold: the
product drops a caption when max(suspect_wrong_class, suspect_no_content), with the library's
weights, reaches `rules.SUSPECT_THRESHOLD`; the threshold with the best F1 on half A of the
10 % mix is chosen on a 0.05 grid, and precision / recall / F1 at it and at the product's
threshold are reported on half B of each 10 % set.

Usage:
    .venv/bin/python benchmarks/bench_label_issues.py [--db PATH] [--review N]
Results: benchmarks/results/label_issues.md and .json (label_issues_full.* with --per-class 0,
every caption of the default).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from benchmarks import run_record  # noqa: E402
from benchmarks.bench_noise import (  # noqa: E402
    DEFAULT_DB,
    SEED,
    Setup,
    compute_halves,
    make_no_content_texts,
)
from curation.relevance import class_names, frozen, issues  # noqa: E402
from curation.relevance.specs import FrozenHeadSpec  # noqa: E402
from encoders.cache import load_text_features  # noqa: E402
from extension.evaluation.metrics import compute_auroc  # noqa: E402

RATES = (0.05, 0.10, 0.20)
KINDS = ("neighbour", "random", "no-content", "mix")
MIX = {"neighbour": 0.4, "random": 0.3, "no-content": 0.3}
CACHE = REPO_ROOT / ".cache" / "bench_label_issues"  # per noise set: features, no probs


class SubsetSetup(Setup):
    """`Setup` on at most `per_class` seeded captions of every class (0 = all): the same
    classes, a fraction of the encoder pass on a shared 2-core machine."""

    def __init__(self, db_path: Path, cache_dir: Path, per_class: int):
        from dataclasses import replace

        import polars as pl

        from curation.relevance.dataset import build_relevance_dataset
        from curation.relevance.features import compute_dataset_features
        from curation.relevance.specs import DatasetSpec
        from db.classes import get_class_lemmas
        from db.connect import connect
        from encoders.loading import compute_encoder_key, load_encoder
        from encoders.registry import OFFLINE_ENCODER

        con = connect(db_path)
        try:
            dataset = build_relevance_dataset(con, DatasetSpec())
            self.class_lemmas = get_class_lemmas(con, list(dataset.class_wnids))
        finally:
            con.close()
        if per_class:
            captions = dataset.captions.sample(fraction=1.0, shuffle=True, seed=SEED)
            captions = captions.filter(pl.int_range(pl.len()).over("wnid") < per_class)
            dataset = replace(dataset, captions=captions.sort("caption_id"))
        self.dataset = dataset
        self.encoder, self.tokenizer = load_encoder(OFFLINE_ENCODER)
        self.key = compute_encoder_key(OFFLINE_ENCODER, self.encoder)
        self.cache_dir = cache_dir
        self.features = compute_dataset_features(
            dataset,
            self.encoder,
            self.tokenizer,
            encoder_key=self.key,
            max_length=128,
            batch_size=64,
            device="cpu",
            cache_dir=cache_dir,
            progress=lambda f, m: print(f"features {f:.2f} {m}", flush=True),
        )
        self.labels = dataset.captions["label"].to_numpy().astype(np.int64)
        self.n_classes = len(dataset.class_wnids)
        self.half_a = compute_halves(self.labels, SEED)


def compute_neighbours(class_wnids: list[str]) -> list[np.ndarray]:
    """Per class row, the rows of its WordNet neighbours: the classes sharing its nearest
    K-LITE ancestor (path_wn) that has another class under it; classes without a path use the
    ImageNet-X metaclass. Model-free."""
    from extension.evaluation.hierarchy import load_class_ancestors

    ancestors = load_class_ancestors()
    paths = [ancestors.get(w, ((), ""))[0] for w in class_wnids]
    metas = [ancestors.get(w, ((), ""))[1] for w in class_wnids]
    under: dict[str, set[int]] = {}
    for row, path in enumerate(paths):
        for name in path[1:]:
            under.setdefault(name, set()).add(row)
    by_meta: dict[str, set[int]] = {}
    for row, meta in enumerate(metas):
        by_meta.setdefault(meta, set()).add(row)
    out = []
    for row, path in enumerate(paths):
        found: set[int] = set()
        for name in path[1:]:
            found = under[name] - {row}
            if found:
                break
        if not found:
            found = by_meta.get(metas[row], set()) - {row}
        out.append(np.array(sorted(found), dtype=np.int64))
    return out


def inject_noise(setup: SubsetSetup, kind: str, rate: float, neighbours, rng) -> dict:
    """Noisy labels, texts and features for one noise set: labels (N,), texts (N,), names
    (their class-name mentions), features (N, D), and masks wrong (label moved), empty
    (no-content text), noisy = either."""
    n = len(setup.labels)
    shares = MIX if kind == "mix" else {kind: 1.0}
    order = rng.permutation(n)
    labels, x = setup.labels.copy(), setup.features.captions
    texts = setup.dataset.captions["text"].to_list()
    wrong, empty = np.zeros(n, bool), np.zeros(n, bool)
    start = 0
    for part, share in shares.items():
        rows = order[start : start + int(round(rate * share * n))]
        start += len(rows)
        if part == "random":
            labels[rows] = (labels[rows] + rng.integers(1, setup.n_classes, len(rows))) % (
                setup.n_classes
            )
            wrong[rows] = True
        elif part == "neighbour":
            for r in rows:
                options = neighbours[labels[r]]
                labels[r] = rng.choice(options) if len(options) else labels[r]
            wrong[rows] = labels[rows] != setup.labels[rows]
        else:
            empty[rows] = True
    if empty.any():
        empty_texts = make_no_content_texts(int(empty.sum()), rng)
        for row, text in zip(np.flatnonzero(empty), empty_texts, strict=True):
            texts[row] = text
        new, _ = load_text_features(
            setup.encoder,
            setup.tokenizer,
            empty_texts,
            encoder_key=setup.key,
            max_length=128,
            batch_size=64,
            cache_dir=setup.cache_dir,
        )
        x = x.copy()
        x[empty] = new
    return {
        "labels": labels,
        "texts": texts,
        "names": compute_names(setup, labels, texts),
        "x": x,
        "wrong": wrong,
        "empty": empty,
        "noisy": wrong | empty,
    }


def train_probs(setup: Setup, labels, x, keep: np.ndarray | None = None) -> tuple[dict, float]:
    """Cross-fitted out-of-sample outputs with (N, C) probs; rows outside `keep` are not
    trained on and are scored by the mean head. (outputs, seconds)."""
    keep = np.ones(len(labels), bool) if keep is None else keep
    head = FrozenHeadSpec()
    folds = np.full(len(labels), frozen.MEAN_HEAD, dtype=np.int64)
    folds[keep] = frozen.compute_folds(labels[keep], folds=head.folds, seed=SEED)
    started = time.perf_counter()
    heads = frozen.train_cross_fitted_heads(
        x[keep],
        labels[keep],
        folds[keep].astype(np.int32),
        n_classes=setup.n_classes,
        spec=head,
        seed=SEED,
        extra_features=setup.features.sentences,
        extra_labels=setup.features.sentence_labels,
    )
    seconds = time.perf_counter() - started
    return frozen.compute_head_outputs(x, labels, heads, folds, keep_probs=True), seconds


def compute_names(setup: SubsetSetup, labels: np.ndarray, texts: list[str]) -> dict:
    """The class-name mentions of one noise set's captions (texts and labels as injected)."""
    index = class_names.build_class_name_index(setup.class_lemmas)
    return class_names.compute_name_mentions(texts, labels, index)


def score_set(setup: SubsetSetup, noise: dict, keep=None) -> dict:
    """Train, then the features, cleanlab's flags and timings of one noise set (no probs)."""
    out, train_s = train_probs(setup, noise["labels"], noise["x"], keep)
    started = time.perf_counter()
    feats = issues.compute_issue_features(out["probs"], noise["labels"], noise["names"])
    feature_s = time.perf_counter() - started
    started = time.perf_counter()
    flags = issues.compute_label_issue_flags(
        out["probs"], noise["labels"], out_of_sample=np.ones(len(noise["labels"]), bool)
    )
    flag_s = time.perf_counter() - started
    del out["probs"]
    record = {name: feats[name] for name in issues.FEATURES}
    record.update(p_own=out["p_own"], flags=flags)
    for key in ("wrong", "empty", "noisy", "labels"):
        record[key] = noise[key]
    return {"data": record, "train_s": train_s, "features_s": feature_s, "find_issues_s": flag_s}


def make_noise_rng(kind: str, rate: float) -> np.random.Generator:
    """The generator of one noise set (kind, rate): the same set in the bench and experiments."""
    return np.random.default_rng(SEED + int(rate * 1000) + KINDS.index(kind))


def load_or_score(setup: Setup, kind: str, rate: float, neighbours) -> dict:
    """One noise set's record, cached under .cache/bench_label_issues (features only)."""
    path = CACHE / f"{kind}-{int(rate * 100)}-n{len(setup.labels)}.npz"
    if path.exists():
        with np.load(path) as data:
            loaded = {k: data[k] for k in data.files}
        times = json.loads(str(loaded.pop("times")))
        if not set(issues.NAME_FEATURES) <= loaded.keys():  # cached before the name features
            noise = inject_noise(setup, kind, rate, neighbours, make_noise_rng(kind, rate))
            loaded.update({k: noise["names"][k] for k in issues.NAME_FEATURES})
            np.savez(path, **loaded, times=json.dumps(times))
        return {"data": loaded, **times}
    rng = make_noise_rng(kind, rate)
    result = score_set(setup, inject_noise(setup, kind, rate, neighbours, rng))
    times = {k: v for k, v in result.items() if k != "data"}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **result["data"], times=json.dumps(times))
    print(json.dumps({"set": f"{kind} {rate:.0%}", **times}), flush=True)
    return result


def feature_matrix(data: dict) -> np.ndarray:
    return np.column_stack([data[name] for name in issues.FEATURES])


def fit_blend(records: list[dict], rows: list[np.ndarray], target: str) -> dict[str, float]:
    """Logistic regression on standardized features of `rows` of each record, folded back to
    weights on the raw features (what `issues.compute_blend` takes)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([feature_matrix(r)[i] for r, i in zip(records, rows, strict=True)])
    y = np.concatenate([r[target][i] for r, i in zip(records, rows, strict=True)])
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x), y)
    coef = model.coef_[0] / scaler.scale_
    intercept = float(model.intercept_[0] - np.sum(coef * scaler.mean_))
    return {**dict(zip(issues.FEATURES, map(float, coef), strict=True)), "intercept": intercept}


def compute_rankings(data: dict, weights: dict) -> dict[str, np.ndarray]:
    """Higher = more suspect, for each ranking compared."""
    wrong = issues.compute_blend(data, weights["wrong"])
    empty = issues.compute_blend(data, weights["empty"])
    return {
        "product P(own)": -data["p_own"],
        "cleanlab self_confidence": -data["self_confidence"],
        "cleanlab normalized_margin": -data["normalized_margin"],
        "cleanlab confidence_weighted_entropy": -data["confidence_weighted_entropy"],
        "cleanlab normalized entropy": data["normalized_entropy"],
        "blend suspect_wrong_class": wrong,
        "blend suspect_no_content": empty,
        "blend max of both": np.maximum(wrong, empty),
    }


def compute_metrics(score: np.ndarray, truth: np.ndarray, n_flagged: int) -> dict:
    """AUROC, AP, precision/recall at the flagged count, precision at recall 0.8."""
    from sklearn.metrics import average_precision_score

    order = np.argsort(-score, kind="stable")
    hits = np.cumsum(truth[order])
    n_true = int(truth.sum())
    k = max(int(n_flagged), 1)
    at_recall = int(np.searchsorted(hits, int(np.ceil(0.8 * n_true)))) + 1
    return {
        "auroc": compute_auroc(truth.astype(int), score),
        "ap": float(average_precision_score(truth, score)),
        "precision_at_flagged": float(hits[k - 1] / k),
        "recall_at_flagged": float(hits[k - 1] / max(n_true, 1)),
        "precision_at_recall_80": float(np.ceil(0.8 * n_true) / at_recall),
    }


def report_set(data: dict, rows: np.ndarray, weights: dict) -> dict:
    """Per ranking, metrics on `rows` against the noisy mask (and, for the mix, per kind)."""
    rankings = compute_rankings(data, weights)
    n_flagged = int(data["flags"][rows].sum())
    truth = {"any": data["noisy"][rows]}
    if data["wrong"][rows].any() and data["empty"][rows].any():
        truth = {**truth, "wrong class": data["wrong"][rows], "no content": data["empty"][rows]}
    out = {"n": int(len(rows)), "n_noisy": int(truth["any"].sum()), "n_flagged": n_flagged}
    out["cleanlab find_label_issues"] = _flag_metrics(data["flags"][rows], truth["any"])
    for target, t in truth.items():
        out[target] = {
            name: compute_metrics(score[rows], t, n_flagged) for name, score in rankings.items()
        }
    return out


def _flag_metrics(flags: np.ndarray, truth: np.ndarray) -> dict:
    tp = int((flags & truth).sum())
    return {
        "precision": tp / max(int(flags.sum()), 1),
        "recall": tp / max(int(truth.sum()), 1),
    }


def compute_dog_false_alarms(data: dict, rows: np.ndarray, weights, groups: np.ndarray) -> dict:
    """Among the clean captions in each ranking's top n_noisy of `rows`: the share that are
    dog breeds (fine-grained classes; dogs are 118 of 999 classes, about 12 % of captions)."""
    rankings = compute_rankings(data, weights)
    n = int(data["noisy"][rows].sum())
    out = {}
    for name, score in rankings.items():
        top = rows[np.argsort(-score[rows], kind="stable")[:n]]
        clean = top[~data["noisy"][top]]
        out[name] = float((groups[data["labels"][clean]] == "dog").mean()) if len(clean) else 0.0
    return out


def feedback_round(setup: Setup, neighbours, weights: dict, n_review: int, b: np.ndarray) -> dict:
    """Review the top n_review (all classes) of the 10 % mix by the blend: drop the noisy,
    keep the clean; retrain without the drops; rank the unreviewed again (metrics on B)."""
    rng = make_noise_rng("mix", 0.10)
    noise = inject_noise(setup, "mix", 0.10, neighbours, rng)
    first = load_or_score(setup, "mix", 0.10, neighbours)["data"]
    score = compute_rankings(first, weights)["blend max of both"]
    reviewed = np.zeros(len(score), bool)
    reviewed[np.argsort(-score, kind="stable")[:n_review]] = True
    dropped = reviewed & noise["noisy"]
    second = score_set(setup, noise, keep=~dropped)
    rest = b[~reviewed[b]]
    before = report_set(first, rest, weights)
    after = report_set(second["data"], rest, weights)
    return {
        "n_review": n_review,
        "n_dropped": int(dropped.sum()),
        "n_kept": int((reviewed & ~noise["noisy"]).sum()),
        "retrain_s": second["train_s"],
        "unreviewed_b": int(len(rest)),
        "noisy_left_b": int(noise["noisy"][rest].sum()),
        "before": before,
        "after": after,
    }


THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


def compute_drop_f1(score: np.ndarray, truth: np.ndarray, threshold: float) -> dict:
    """Precision, recall and F1 of dropping the captions whose score reaches `threshold`."""
    drop = score >= threshold
    tp = int((drop & truth).sum())
    precision, recall = tp / max(int(drop.sum()), 1), tp / max(int(truth.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "n_dropped": int(drop.sum())}


def choose_suspect_threshold(sets: dict, a: np.ndarray, b: np.ndarray) -> dict:
    """The suspect rule's threshold with the best F1 on half A of the 10 % mix (library
    weights, as the product scores), and the rule at it and at the product's threshold on
    half B of every 10 % set."""
    from curation.relevance.rules import SUSPECT_THRESHOLD

    library = {"wrong": issues.WRONG_CLASS_WEIGHTS, "empty": issues.NO_CONTENT_WEIGHTS}

    def suspect(data: dict) -> np.ndarray:
        return compute_rankings(data, library)["blend max of both"]

    mix = sets[("mix", 0.10)]["data"]
    on_a = {float(t): compute_drop_f1(suspect(mix)[a], mix["noisy"][a], t) for t in THRESHOLD_GRID}
    chosen = max(on_a, key=lambda t: on_a[t]["f1"])
    on_b = {}
    for (kind, rate), result in sets.items():
        if rate != 0.10:
            continue
        data = result["data"]
        score, truth = suspect(data)[b], data["noisy"][b]
        on_b[kind] = {
            "chosen": compute_drop_f1(score, truth, chosen),
            "product": compute_drop_f1(score, truth, SUSPECT_THRESHOLD),
        }
    return {"chosen": chosen, "product": SUSPECT_THRESHOLD, "f1_on_a": on_a, "on_b": on_b}


def run(setup: Setup, n_review: int, rates: tuple[float, ...]) -> dict:
    neighbours = compute_neighbours(setup.dataset.class_wnids)
    sets = {(k, r): load_or_score(setup, k, r, neighbours) for r in rates for k in KINDS}
    a, b = np.flatnonzero(setup.half_a), np.flatnonzero(~setup.half_a)
    wrong_sets = [sets[("neighbour", 0.10)]["data"], sets[("random", 0.10)]["data"]]
    weights = {
        "wrong": fit_blend(wrong_sets, [a, a], "wrong"),
        "empty": fit_blend([sets[("no-content", 0.10)]["data"]], [a], "empty"),
    }
    library = {"wrong": issues.WRONG_CLASS_WEIGHTS, "empty": issues.NO_CONTENT_WEIGHTS}
    from extension.evaluation.hierarchy import get_class_groups

    groups = get_class_groups(list(setup.dataset.class_wnids))
    group_of_row = np.array([groups[w] for w in setup.dataset.class_wnids])
    table = []
    for (kind, rate), result in sets.items():
        data = result["data"]
        table.append(
            {
                "kind": kind,
                "rate": rate,
                "train_s": result["train_s"],
                "features_s": result["features_s"],
                "find_issues_s": result["find_issues_s"],
                "fitted_on_a": report_set(data, b, weights),
                "library_weights": report_set(data, b, library)["any"]["blend max of both"],
                "dog_false_alarms": compute_dog_false_alarms(data, b, weights, group_of_row),
            }
        )
    return {
        "weights": weights,
        "n_neighbours_median": float(np.median([len(n) for n in neighbours])),
        "table": table,
        "feedback": feedback_round(setup, neighbours, weights, n_review, b),
        "suspect_threshold": choose_suspect_threshold(sets, a, b),
    }


def _markdown(results: dict) -> str:
    lines = [
        "# Label issues: product P(own) vs cleanlab 2.9 vs the blend (issue 19)",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}; load average before/after: "
        f"{results['load_before']} / {results['load_after']} (shared machine: times are noisy)",
        "",
        f"Data: {results['n_captions']:,} captions of {results['n_classes']} classes (the "
        "embedded default), all-MiniLM-L6-v2 features, the frozen mode's default head, 5-fold "
        "cross-fitted out-of-sample sigmoid outputs, row-normalized for cleanlab. WordNet "
        f"neighbours per class: median {results['n_neighbours_median']:.0f}.",
        "",
        "Chosen on half A: the blend's weights (logistic regression; wrong class on the 10 % "
        "sibling + random sets, no content on the 10 % no-content set). Every figure below is "
        "on half B. Flagged = the count cleanlab's find_label_issues(confident_learning) flags "
        "on half B.",
        "",
    ]
    for row in results["table"]:
        lines += _set_lines(row)
    lines += _feedback_lines(results["feedback"])
    lines += _threshold_lines(results["suspect_threshold"])
    lines += ["", "Weights fitted on half A:", "", "```", json.dumps(results["weights"], indent=1)]
    return "\n".join(lines + ["```", ""])


def _set_lines(row: dict) -> list[str]:
    rep = row["fitted_on_a"]
    flags = rep["cleanlab find_label_issues"]
    lines = [
        f"## {row['kind']} {row['rate']:.0%} (half B: {rep['n_noisy']:,} noisy of "
        f"{rep['n']:,}; flagged {rep['n_flagged']:,}, precision {flags['precision']:.3f}, "
        f"recall {flags['recall']:.3f})",
        "",
        f"Wall: train {row['train_s']:.1f} s, features {row['features_s']:.1f} s, "
        f"find_label_issues {row['find_issues_s']:.1f} s (all captions).",
        "",
    ]
    for target in [t for t in ("any", "wrong class", "no content") if t in rep]:
        lines += [
            f"Detecting: {target}",
            "",
            "| ranking | AUROC | AP | precision / recall at flagged | precision at recall 0.8 "
            "| clean false alarms in dog breeds |",
            "|---|---|---|---|---|---|",
        ]
        for name, m in rep[target].items():
            dogs = row["dog_false_alarms"][name]
            lines.append(
                f"| {name} | {m['auroc']:.4f} | {m['ap']:.3f} | {m['precision_at_flagged']:.3f} / "
                f"{m['recall_at_flagged']:.3f} | {m['precision_at_recall_80']:.3f} | {dogs:.2f} |"
            )
        lines.append("")
    return lines


def _feedback_lines(fb: dict) -> list[str]:
    lines = [
        "## Decisions feed back: one round on the 10 % mix",
        "",
        f"Reviewed the top {fb['n_review']:,} of the blend (max of both) over all captions: "
        f"{fb['n_dropped']:,} dropped (noisy), {fb['n_kept']:,} kept (clean). Retrained "
        f"without the drops ({fb['retrain_s']:.1f} s); {fb['noisy_left_b']:,} noisy left among "
        f"{fb['unreviewed_b']:,} unreviewed captions of half B.",
        "",
        "| ranking of the unreviewed (half B) | AUROC before / after | AP before / after |",
        "|---|---|---|",
    ]
    for name, m in fb["before"]["any"].items():
        n = fb["after"]["any"][name]
        lines.append(
            f"| {name} | {m['auroc']:.4f} / {n['auroc']:.4f} | {m['ap']:.3f} / {n['ap']:.3f} |"
        )
    return lines + [""]


def _threshold_lines(choice: dict) -> list[str]:
    best_a = choice["f1_on_a"][choice["chosen"]]["f1"]
    lines = [
        "## The suspect drop rule's threshold",
        "",
        f"Chosen on half A of the 10 % mix (best F1 on a 0.05 grid): **{choice['chosen']}** "
        f"(F1 {best_a:.3f} on A); the product's threshold: {choice['product']}. On half B:",
        "",
        f"| 10 % set | at {choice['chosen']}: precision / recall / F1 | at {choice['product']}: "
        "precision / recall / F1 |",
        "|---|---|---|",
    ]
    for kind, row in choice["on_b"].items():
        c, p = row["chosen"], row["product"]
        lines.append(
            f"| {kind} | {c['precision']:.3f} / {c['recall']:.3f} / {c['f1']:.3f} | "
            f"{p['precision']:.3f} / {p['recall']:.3f} / {p['f1']:.3f} |"
        )
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    from benchmarks.dev_db import build_dev_database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--cache-dir", type=Path, default=REPO_ROOT / ".cache" / "text-features")
    parser.add_argument("--review", type=int, default=1000, help="captions reviewed in round 1")
    parser.add_argument("--per-class", type=int, default=16, help="captions per class (0 = all)")
    parser.add_argument("--rates", default="0.05,0.1,0.2", help="noise rates, comma-separated")
    args = parser.parse_args(argv)
    load_before = run_record.read_load_average()
    setup = SubsetSetup(build_dev_database(args.db), args.cache_dir, args.per_class)
    rates = tuple(float(r) for r in args.rates.split(","))
    results = {
        "command": run_record.describe_command("bench_label_issues.py", argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_before": load_before,
        "n_captions": int(len(setup.labels)),
        "n_classes": setup.n_classes,
        "per_class": args.per_class,
        **run(setup, args.review, rates),
    }
    results["load_after"] = run_record.read_load_average()
    name = "label_issues_full" if args.per_class == 0 else "label_issues"
    run_record.write_results(name, results, _markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
