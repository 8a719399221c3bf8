"""Experiment (issue 19, not adopted): does a cross-fitted word model beside the sentence
encoder rank label issues better, above all a label moved to a WordNet sibling? (Measured:
logistic regression at a = 0.2-0.3 lifts the sibling blend from 0.966 / 0.650 to 0.968 / 0.676
AUROC / precision at recall 0.8 on half B, for 200 s more per training and a lower
no-content AUROC; naive Bayes does not help.)

all-MiniLM features blur fine-grained siblings (a husky and a malamute caption embed close
together), while the words that tell them apart ("husky", "siberian") are in the caption. Here
every caption of the default gets, beside the product's cross-fitted probabilities (frozen
head, 5 folds, the same folds), cross-fitted probabilities of a word model on TF-IDF of its
text (unigrams and bigrams): multinomial naive Bayes, or one-vs-rest logistic regression
(scikit-learn SGD). The two are combined as a tempered product of experts,
p ~ p_emb^(1-a) * p_word^a (row-normalized), and the suspect blends are refitted on half A of
the four 10 % noise sets of `benchmarks/bench_label_issues.py` and reported on half B.

Usage: .venv/bin/python benchmarks/experiments/lexical_head.py [--model nb|sgd]
Output: stdout, and benchmarks/results/lexical_head.txt.
"""

# ruff: noqa: E402, E501  (an experiment script: imports after the path set-up, long prints)
import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np

from benchmarks import bench_label_issues as B
from benchmarks import run_record
from curation.relevance import frozen, issues
from curation.relevance.specs import FrozenHeadSpec

RATE = 0.10
ALPHAS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)


def cached_encoder_probs(setup, noise: dict, kind: str) -> np.ndarray:
    """(N, C) the product's cross-fitted probabilities of one noise set, cached under .cache/lexical_head."""
    path = REPO_ROOT / ".cache" / "lexical_head" / f"{kind}-n{len(noise['labels'])}.npy"
    if path.exists():
        return np.load(path)
    probs = B.train_probs(setup, noise["labels"], noise["x"])[0]["probs"]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, probs)
    return probs


def word_probs(
    texts: np.ndarray, labels: np.ndarray, folds: np.ndarray, n_classes: int, model: str
) -> np.ndarray:
    """(N, C) out-of-fold probabilities of a word model on TF-IDF of `texts`."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.naive_bayes import ComplementNB, MultinomialNB

    out = np.full((len(labels), n_classes), 1.0 / n_classes, dtype=np.float32)
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        vectorizer = TfidfVectorizer(
            ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000
        )
        xtr = vectorizer.fit_transform(texts[train])
        xte = vectorizer.transform(texts[test])
        if model == "nb":
            clf = MultinomialNB(alpha=0.1).fit(xtr, labels[train])
        elif model == "cnb":
            clf = ComplementNB(alpha=0.3).fit(xtr, labels[train])
        else:
            clf = SGDClassifier(
                loss="log_loss", alpha=2e-6, max_iter=8, tol=None, n_jobs=2, random_state=0
            ).fit(xtr, labels[train])
        probs = clf.predict_proba(xte) if model != "cnb" else _softmax(clf.predict_log_proba(xte))
        out[np.ix_(np.flatnonzero(test), clf.classes_)] = probs
        print(f"  word model fold {fold} done", flush=True)
    return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def combine(p_emb: np.ndarray, p_word: np.ndarray, a: float) -> np.ndarray:
    """(N, C) row-normalized p_emb^(1-a) * p_word^a."""
    log = (1 - a) * np.log(np.maximum(issues.compute_row_normalized(p_emb), 1e-12))
    log += a * np.log(np.maximum(issues.compute_row_normalized(p_word), 1e-12))
    return _softmax(log).astype(np.float32)


def record(probs: np.ndarray, noise: dict) -> dict:
    feats = issues.compute_issue_features(probs, noise["labels"], noise["names"])
    data = {name: feats[name] for name in issues.FEATURES}
    data["p_own"] = np.exp(feats["log_p_own"])
    for key in ("wrong", "empty", "noisy"):
        data[key] = noise[key]
    return data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("nb", "cnb", "sgd"), default="nb")
    args = parser.parse_args(argv)
    setup = B.SubsetSetup(B.DEFAULT_DB, REPO_ROOT / ".cache" / "text-features", 0)
    neighbours = B.compute_neighbours(setup.dataset.class_wnids)
    texts = setup.dataset.captions["text"].to_list()
    a_rows, b_rows = np.flatnonzero(setup.half_a), np.flatnonzero(~setup.half_a)
    by_alpha: dict[float, list[dict]] = {a: [] for a in ALPHAS}
    lines = [f"Command: {run_record.describe_command('experiments/lexical_head.py', argv)}"]
    for kind in B.KINDS:
        noise = B.inject_noise(setup, kind, RATE, neighbours, B.make_noise_rng(kind, RATE))
        noise["texts"] = np.array(noise["texts"], dtype=object)
        started = time.perf_counter()
        emb = cached_encoder_probs(setup, noise, kind)
        emb_s = time.perf_counter() - started
        folds = frozen.compute_folds(noise["labels"], folds=FrozenHeadSpec().folds, seed=B.SEED)
        started = time.perf_counter()
        word_path = REPO_ROOT / ".cache" / "lexical_head" / f"{kind}-{args.model}-n{len(texts)}.npy"
        if word_path.exists():
            word = np.load(word_path)
        else:
            word = word_probs(noise["texts"], noise["labels"], folds, setup.n_classes, args.model)
            np.save(word_path, word)
        word_s = time.perf_counter() - started
        lines.append(
            f"{kind}: encoder head {emb_s:.0f} s, word model ({args.model}) {word_s:.0f} s"
        )
        print(lines[-1], flush=True)
        for a in ALPHAS:
            by_alpha[a].append(record(combine(emb, word, a), noise))
    for a in ALPHAS:
        records = by_alpha[a]
        weights = {
            "wrong": B.fit_blend(records, [a_rows] * 4, "wrong"),
            "empty": B.fit_blend(records, [a_rows] * 4, "empty"),
        }
        for kind, data in zip(B.KINDS, records, strict=True):
            ranks = B.compute_rankings(data, weights)
            target = "empty" if kind == "no-content" else ("noisy" if kind == "mix" else "wrong")
            truth = data[target][b_rows]
            parts = []
            for name in (
                "blend suspect_wrong_class",
                "blend suspect_no_content",
                "blend max of both",
                "cleanlab normalized_margin",
                "cleanlab self_confidence",
            ):
                m = B.compute_metrics(ranks[name][b_rows], truth, int(truth.sum()))
                parts.append(
                    f"{name.replace('blend ', '').replace('cleanlab ', 'cl ')} {m['auroc']:.4f}/{m['precision_at_recall_80']:.3f}"
                )
            lines.append(f"a={a:.1f} {kind:10s} " + "; ".join(parts))
            print(lines[-1], flush=True)
    out = REPO_ROOT / "benchmarks" / "results" / f"lexical_head_{args.model}.txt"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
