"""Benchmark: caption relevance in frozen mode on the whole default data, and noise detection.

What runs (embedded default: ImageNet-X captions, 999 classes, about 60,000 captions; the
offline all-MiniLM-L6-v2 encoder; features cached under .cache/text-features, so only the
first run pays for the encoder pass):

1. Feature throughput: `compute_text_features` on 2,048 default captions (batch 64, max 128
   tokens), no cache involved: captions/s. Then the cache fill for the whole dataset
   through the library (`run_compute_relevance_features`, free when cached).
2. Two trainings through the library (`run_train_relevance`, mode frozen, on a copy of the
   database): the default head settings, then other settings; head seconds, out-of-sample
   top-1 over every caption, and the second training's newly encoded texts (must be 0).
3. Head settings chosen on half A of the captions (a seeded half of each class) and
   reported on half B: a grid of (epochs, learning rate, weight decay), each trained with
   10 % of all labels flipped to a random other class; the setting with the best detection
   AUROC on A's captions wins (ties: A's top-1). Training always uses every caption (A and
   B); only the captions a metric is computed on differ.
4. With the chosen setting, metrics on half B: flipped labels at 5, 10 and 20 %, and 10 % of
   the captions replaced by text with no class content (camera settings, dates, places,
   file names; labels kept): detection AUROC of 1 - P(own class) (out of sample),
   precision at the number of noisy captions, top-1 against the true labels on clean
   captions; wall time of each training. Plus a clean run (no noise): out-of-sample top-1.
5. GPU (issue 11, item 7): with CUDA, fine-tune mode of MiniLM on every class (time until its
   test top-1 reaches the frozen mode's), and a roberta-base-sized encoder's scoring
   captions/s and fraction of peak (via bench_relevance). Without CUDA a line says so.

Usage:
    .venv/bin/python benchmarks/bench_noise.py [--grid small|full] [--db PATH]
Results: benchmarks/results/noise.md and noise.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks import run_record  # noqa: E402
from curation.relevance import frozen  # noqa: E402
from curation.relevance.features import compute_dataset_features  # noqa: E402
from curation.relevance.specs import FrozenHeadSpec  # noqa: E402
from encoders.cache import load_text_features  # noqa: E402
from encoders.loading import compute_encoder_key  # noqa: E402
from encoders.pooling import compute_text_features  # noqa: E402
from encoders.registry import OFFLINE_ENCODER  # noqa: E402
from extension.evaluation.metrics import compute_auroc  # noqa: E402

DEFAULT_DB = REPO_ROOT / ".cache" / "bench_relevance.duckdb"
SEED = 0
GRIDS = {
    "small": [(3, 3e-3, 0.0), (3, 1e-2, 0.0)],
    "full": [
        (2, 3e-3, 0.0),
        (3, 3e-3, 0.0),
        (5, 3e-3, 0.0),
        (3, 1e-2, 0.0),
        (5, 1e-3, 0.0),
        (3, 3e-3, 0.05),
    ],
}
FLIP_RATES = (0.05, 0.10, 0.20)
THRESHOLDS = (0.5, 0.3, 0.2, 0.1, 0.05)  # candidates for the frozen mode's global threshold
NO_CONTENT_RATE = 0.10
CAMERAS = [
    "Canon EOS 5D Mark II",
    "Nikon D90",
    "Sony A7 III",
    "Canon PowerShot G12",
    "Nikon D3100",
    "Olympus E-M10",
    "Fujifilm X100F",
    "iPhone 4S",
    "Pentax K-5",
]
PLACES = [
    "Paris, France",
    "Berlin",
    "Tokyo, Japan",
    "near Austin, Texas",
    "Barcelona",
    "Lake District, UK",
    "downtown Chicago",
    "Melbourne, Australia",
    "Oslo",
    "Lisbon",
]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def make_no_content_texts(n: int, rng: np.random.Generator) -> list[str]:
    """Captions that say nothing about any class: camera settings, dates, places, files."""
    makers = [
        lambda: (
            f"{rng.choice(CAMERAS)}, f/{rng.choice([1.8, 2.8, 4, 5.6, 8])}, "
            f"1/{rng.choice([60, 125, 250, 500, 1000])} s, ISO {rng.choice([100, 200, 400, 800])}"
        ),
        lambda: f"Taken on {rng.integers(1, 29)} {rng.choice(MONTHS)} {rng.integers(2004, 2013)}",
        lambda: f"{rng.choice(PLACES)}, {rng.integers(2004, 2013)}",
        lambda: f"IMG_{rng.integers(1000, 9999)}.JPG",
        lambda: f"DSC_{rng.integers(100, 9999):04d} {rng.choice(CAMERAS)}",
        lambda: f"my trip to {rng.choice(PLACES)}, {rng.choice(MONTHS)} {rng.integers(2004, 2013)}",
    ]
    texts = []
    for _ in range(n):
        parts = rng.choice(len(makers), size=int(rng.integers(1, 3)), replace=False)
        texts.append(" ".join(makers[int(p)]() for p in parts))
    return texts


def compute_halves(labels: np.ndarray, seed: int) -> np.ndarray:
    """(N,) True for half A (choosing), False for half B (reporting): half of each class."""
    folds = frozen.compute_folds(labels, folds=2, seed=seed + 1000)
    return folds == 0


def flip_labels(
    labels: np.ndarray, rate: float, n_classes: int, rng
) -> tuple[np.ndarray, np.ndarray]:
    """Labels with `rate` of them moved to a uniformly random other class; (labels, flipped)."""
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[rng.choice(len(labels), size=int(round(rate * len(labels))), replace=False)] = True
    noisy = labels.copy()
    shift = rng.integers(1, n_classes, size=int(flipped.sum()))
    noisy[flipped] = (labels[flipped] + shift) % n_classes
    return noisy, flipped


def detection_metrics(p_own: np.ndarray, noisy: np.ndarray, rows: np.ndarray) -> dict:
    """AUROC of 1 - P(own) for noisy vs clean, and precision at the number noisy, on rows."""
    p, y = p_own[rows], noisy[rows]
    m = int(y.sum())
    lowest = np.argsort(p, kind="stable")[:m]
    return {
        "auroc": compute_auroc(y.astype(int), 1.0 - p),
        "precision_at_n": float(y[lowest].mean()) if m else float("nan"),
        "n_noisy": m,
        "n": int(len(y)),
    }


class Setup:
    """The dataset, features and encoder the experiments share."""

    def __init__(self, db_path: Path, cache_dir: Path):
        from curation.relevance.dataset import build_relevance_dataset
        from curation.relevance.specs import DatasetSpec
        from db.connect import connect
        from encoders.loading import load_encoder

        con = connect(db_path)
        try:
            self.dataset = build_relevance_dataset(con, DatasetSpec())
        finally:
            con.close()
        self.encoder, self.tokenizer = load_encoder(OFFLINE_ENCODER)
        self.key = compute_encoder_key(OFFLINE_ENCODER, self.encoder)
        self.cache_dir = cache_dir
        self.features = compute_dataset_features(
            self.dataset,
            self.encoder,
            self.tokenizer,
            encoder_key=self.key,
            max_length=128,
            batch_size=64,
            device="cpu",
            cache_dir=cache_dir,
        )
        self.labels = self.dataset.captions["label"].to_numpy().astype(np.int64)
        self.n_classes = len(self.dataset.class_wnids)
        self.half_a = compute_halves(self.labels, SEED)

    def train(self, labels: np.ndarray, head: FrozenHeadSpec, features=None) -> tuple[dict, float]:
        """Cross-fitted OOS outputs on (possibly noisy) labels; (outputs, seconds)."""
        x = self.features.captions if features is None else features
        folds = frozen.compute_folds(labels, folds=head.folds, seed=SEED)
        started = time.perf_counter()
        heads = frozen.train_cross_fitted_heads(
            x,
            labels,
            folds,
            n_classes=self.n_classes,
            spec=head,
            seed=SEED,
            extra_features=self.features.sentences,
            extra_labels=self.features.sentence_labels,
        )
        seconds = time.perf_counter() - started
        return frozen.compute_head_outputs(x, labels, heads, folds), seconds


def bench_feature_throughput(setup: Setup, n: int = 2048) -> dict:
    texts = setup.dataset.captions["text"].to_list()[:n]
    torch.set_num_threads(os.cpu_count() or 1)
    compute_text_features(setup.encoder, setup.tokenizer, texts[:64], batch_size=64)  # warm-up
    started = time.perf_counter()
    compute_text_features(setup.encoder, setup.tokenizer, texts, batch_size=64, max_length=128)
    seconds = time.perf_counter() - started
    return {"n_captions": len(texts), "seconds": seconds, "captions_per_s": len(texts) / seconds}


def bench_library_trainings(db_path: Path, cache_dir: Path, tmp: Path) -> list[dict]:
    """Two frozen trainings through run_train_relevance; the second must encode nothing."""
    from curation.relevance.specs import TrainSpec
    from curation.relevance.train import run_train_relevance
    from db.connect import connect

    copy = tmp / "library.duckdb"
    shutil.copyfile(db_path, copy)
    rows = []
    con = connect(copy)
    try:
        base = FrozenHeadSpec(cache_dir=str(cache_dir))
        for label, head in (
            ("default", base),
            ("other settings", replace(base, epochs=4, learning_rate=1e-2)),
        ):
            spec = TrainSpec(
                checkpoint_dir=str(tmp / label.replace(" ", "-")), mode="frozen", head=head
            )
            started = time.perf_counter()
            result = run_train_relevance(con, spec)
            rows.append(
                {
                    "label": label,
                    "head": head.to_dict(),
                    "wall_s": time.perf_counter() - started,
                    "head_s": result["head_seconds"],
                    "top1_oos_all": result["best_test_accuracy"],
                    "encoded_now": result["features"]["n_new"],
                    "cached": result["features"]["n_cached"],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    finally:
        con.close()
    return rows


def choose_head(setup: Setup, grid: list[tuple]) -> tuple[FrozenHeadSpec, list[dict]]:
    """The grid setting with the best 10 %-flip detection AUROC on half A (ties: A top-1)."""
    rng = np.random.default_rng(SEED)
    noisy, flipped = flip_labels(setup.labels, 0.10, setup.n_classes, rng)
    rows = []
    for epochs, lr, decay in grid:
        head = FrozenHeadSpec(epochs=epochs, learning_rate=lr, weight_decay=decay)
        out, seconds = setup.train(noisy, head)
        a = setup.half_a
        clean_a = a & ~flipped
        rows.append(
            {
                "epochs": epochs,
                "learning_rate": lr,
                "weight_decay": decay,
                "train_s": seconds,
                "auroc_a": detection_metrics(out["p_own"], flipped, np.flatnonzero(a))["auroc"],
                "top1_a": float((out["suggested"][clean_a] == setup.labels[clean_a]).mean()),
                "_out": out,
            }
        )
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "_out"}), flush=True)
    best = max(rows, key=lambda r: (round(r["auroc_a"], 4), r["top1_a"]))
    head = FrozenHeadSpec(
        epochs=best["epochs"],
        learning_rate=best["learning_rate"],
        weight_decay=best["weight_decay"],
    )
    return head, rows


def compute_drop_rule(out: dict, noisy: np.ndarray, rows: np.ndarray, threshold: float) -> dict:
    """The paper's rule (drop when P < mean P or P < threshold) as a detector of `noisy`."""
    drop = (out["p_own"] < out["p_mean"]) | (out["p_own"] < threshold)
    d, y = drop[rows], noisy[rows]
    tp, fp, fn = int((d & y).sum()), int((d & ~y).sum()), int((~d & y).sum())
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {
        "threshold": threshold,
        "share_dropped": float(d.mean()),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def choose_threshold(setup: Setup, grid_rows: list[dict], head: FrozenHeadSpec) -> dict:
    """The global threshold with the best F1 of dropping the 10 % flipped labels on half A;
    the same figures on half B, and the share of B a clean run drops at it."""
    chosen = _chosen_row(grid_rows, head)
    _, flipped = flip_labels(setup.labels, 0.10, setup.n_classes, np.random.default_rng(SEED))
    a, b = np.flatnonzero(setup.half_a), np.flatnonzero(~setup.half_a)
    on_a = [compute_drop_rule(chosen["_out"], flipped, a, t) for t in THRESHOLDS]
    best = max(on_a, key=lambda r: r["f1"])["threshold"]
    return {
        "on_a": on_a,
        "chosen": best,
        "on_b": [compute_drop_rule(chosen["_out"], flipped, b, t) for t in THRESHOLDS],
    }


def _chosen_row(grid_rows: list[dict], head: FrozenHeadSpec) -> dict:
    key = (head.epochs, head.learning_rate, head.weight_decay)
    return next(r for r in grid_rows if (r["epochs"], r["learning_rate"], r["weight_decay"]) == key)


def report_on_b(setup: Setup, head: FrozenHeadSpec, grid_rows: list[dict]) -> list[dict]:
    b = np.flatnonzero(~setup.half_a)
    rows = []
    chosen = _chosen_row(grid_rows, head)
    for rate in FLIP_RATES:
        rng = np.random.default_rng(SEED)
        noisy, flipped = flip_labels(setup.labels, rate, setup.n_classes, rng)
        if rate == 0.10:  # the grid ran this exact noise: reuse the chosen setting's run
            out, seconds = chosen["_out"], chosen["train_s"]
        else:
            out, seconds = setup.train(noisy, head)
        rows.append(_noise_row(f"flipped labels {rate:.0%}", out, flipped, setup, b, seconds))
    rows.append(_no_content_row(setup, head, b))
    out, seconds = setup.train(setup.labels, head)
    clean = _noise_row("no noise", out, np.zeros(len(setup.labels), bool), setup, b, seconds)
    clean["top1_all"] = float((out["suggested"] == setup.labels).mean())
    zero = np.zeros(len(setup.labels), dtype=bool)
    clean["share_dropped_b"] = {
        str(t): compute_drop_rule(out, zero, b, t)["share_dropped"] for t in THRESHOLDS
    }
    rows.append(clean)
    return rows


def _noise_row(kind: str, out: dict, noisy: np.ndarray, setup: Setup, b, seconds) -> dict:
    clean_b = b[~noisy[b]]
    row = {
        "noise": kind,
        "train_s": seconds,
        "top1_b_clean": float((out["suggested"][clean_b] == setup.labels[clean_b]).mean()),
    }
    if noisy.any():
        row.update(detection_metrics(out["p_own"], noisy, b))
    print(json.dumps(row), flush=True)
    return row


def _no_content_row(setup: Setup, head: FrozenHeadSpec, b: np.ndarray) -> dict:
    rng = np.random.default_rng(SEED + 7)
    n = len(setup.labels)
    replaced = np.zeros(n, dtype=bool)
    replaced[rng.choice(n, size=int(round(NO_CONTENT_RATE * n)), replace=False)] = True
    texts = make_no_content_texts(int(replaced.sum()), rng)
    started = time.perf_counter()
    new, report = load_text_features(
        setup.encoder,
        setup.tokenizer,
        texts,
        encoder_key=setup.key,
        max_length=128,
        batch_size=64,
        cache_dir=setup.cache_dir,
    )
    encode_s = time.perf_counter() - started
    x = setup.features.captions.copy()
    x[replaced] = new
    out, seconds = setup.train(setup.labels, head, features=x)
    row = _noise_row(f"no class content {NO_CONTENT_RATE:.0%}", out, replaced, setup, b, seconds)
    row["examples"] = texts[:3]
    row["encode_s"] = encode_s
    row["encoded_now"] = report.n_new
    return row


def bench_gpu(setup: Setup, frozen_top1: float, db_path: Path, tmp: Path) -> dict:
    """Issue 11 item 7 on CUDA: fine-tune MiniLM on every class until its test top-1 reaches
    the frozen mode's; a roberta-base-sized encoder's scoring speed and fraction of peak."""
    if not torch.cuda.is_available():
        return {
            "skipped": "No CUDA device on this machine: the GPU part (fine-tune mode, time to "
            "the frozen mode's accuracy, roberta-base-sized captions/s and fraction of peak) "
            "did not run; it runs when CUDA is present."
        }
    from benchmarks.bench_relevance import _roberta_base_sized, bench_scoring, bench_training

    train = bench_training(
        db_path,
        OFFLINE_ENCODER,
        "all-MiniLM-L6-v2 fine-tune",
        classes=0,
        epochs=3,
        device="cuda",
        batch_size=128,
        tmp=tmp,
    )
    reached = next(
        (t for t in train["time_to_accuracy"] if t["test_accuracy"] >= frozen_top1), None
    )
    texts = setup.dataset.captions["text"].to_list()[:8192]
    big = _roberta_base_sized(tmp, texts)
    scoring = bench_scoring(big, texts, device="cuda", repeats=3, batch_sizes=(256,))
    return {
        "device": torch.cuda.get_device_name(),
        "finetune_minilm": train,
        "time_to_frozen_top1": reached,
        "roberta_base_sized_scoring": scoring,
    }


def _markdown(results: dict) -> str:
    f, lib, chosen = results["features"], results["library"], results["chosen_head"]
    lines = [
        "# Noise detection and frozen-mode relevance (issue 11)",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}; load average before/after: "
        f"{results['load_before']} / {results['load_after']}",
        "",
        f"Data: {results['n_captions']:,} captions of {results['n_classes']} classes "
        "(ImageNet-X, the embedded default), class sentences as extra training rows; "
        "encoder all-MiniLM-L6-v2 (offline), features cached.",
        "",
        "## Features and training (library path)",
        "",
        f"- encoder pass: {f['captions_per_s']:.1f} captions/s ({f['n_captions']} captions, "
        f"batch 64, max 128 tokens, no cache)",
        f"- cache fill for the whole dataset: {results['cache_fill']['n_new']:,} texts encoded "
        f"now, {results['cache_fill']['n_cached']:,} found cached",
        "",
        "| training | head settings | head s | wall s | out-of-sample top-1 (all) | texts "
        "encoded |",
        "|---|---|---|---|---|---|",
    ]
    for r in lib:
        h = r["head"]
        lines.append(
            f"| {r['label']} | {h['epochs']} epochs, lr {h['learning_rate']:g}, wd "
            f"{h['weight_decay']:g}, {h['folds']} folds | {r['head_s']:.1f} | {r['wall_s']:.1f} "
            f"| {r['top1_oos_all']:.3f} | {r['encoded_now']} |"
        )
    lines += [
        "",
        "## Head settings: chosen on half A (10 % flipped labels), reported on half B",
        "",
        "| epochs | lr | weight decay | train s | AUROC on A | top-1 on A (clean) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results["grid"]:
        lines.append(
            f"| {r['epochs']} | {r['learning_rate']:g} | {r['weight_decay']:g} "
            f"| {r['train_s']:.1f} | {r['auroc_a']:.4f} | {r['top1_a']:.4f} |"
        )
    lines += [
        "",
        f"Chosen on A: {chosen['epochs']} epochs, lr {chosen['learning_rate']:g}, weight decay "
        f"{chosen['weight_decay']:g}. Every figure below is measured on half B only.",
        "",
        "| noise (half B) | noisy | detection AUROC | precision at n noisy | top-1 (clean, vs "
        "true label) | train s |",
        "|---|---|---|---|---|---|",
    ]
    for r in results["report"]:
        auroc = f"{r['auroc']:.4f}" if "auroc" in r else "-"
        prec = f"{r['precision_at_n']:.4f}" if "precision_at_n" in r else "-"
        noisy = f"{r['n_noisy']:,} of {r['n']:,}" if "n" in r else "none"
        lines.append(
            f"| {r['noise']} | {noisy} | {auroc} | {prec} | {r['top1_b_clean']:.4f} "
            f"| {r['train_s']:.1f} |"
        )
    lines += _threshold_lines(results)
    examples = next((r["examples"] for r in results["report"] if "examples" in r), [])
    lines += ["", "No-class-content examples: " + "; ".join(f"`{e}`" for e in examples), ""]
    gpu = results["gpu"]
    lines += ["## GPU", "", gpu.get("skipped") or "```\n" + json.dumps(gpu, indent=1) + "\n```"]
    return "\n".join(lines + [""])


def _threshold_lines(results: dict) -> list[str]:
    th = results["threshold"]
    clean = next(r for r in results["report"] if r["noise"] == "no noise")["share_dropped_b"]
    lines = [
        "",
        "## Global threshold of the paper's rule (drop when P < mean P or P < t), frozen mode",
        "",
        f"Chosen on A (best F1 of dropping the 10 % flipped labels): t = {th['chosen']}.",
        "",
        "| t | A: dropped | A: precision / recall / F1 | B: dropped | B: precision / recall / "
        "F1 | B, no noise: dropped |",
        "|---|---|---|---|---|---|",
    ]
    for a, b in zip(th["on_a"], th["on_b"], strict=True):
        lines.append(
            f"| {a['threshold']} | {a['share_dropped']:.3f} | {a['precision']:.3f} / "
            f"{a['recall']:.3f} / {a['f1']:.3f} | {b['share_dropped']:.3f} | "
            f"{b['precision']:.3f} / {b['recall']:.3f} / {b['f1']:.3f} "
            f"| {clean[str(a['threshold'])]:.3f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    from benchmarks.dev_db import build_dev_database
    from curation.relevance.features import run_compute_relevance_features
    from curation.relevance.specs import FeatureSpec
    from db.connect import connect

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="full")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--cache-dir", type=Path, default=REPO_ROOT / ".cache" / "text-features")
    args = parser.parse_args(argv)
    load_before = run_record.read_load_average()
    db_path = build_dev_database(args.db)
    con = connect(db_path)
    try:
        spec = FeatureSpec(cache_dir=str(args.cache_dir))
        cache_fill = run_compute_relevance_features(con, spec)  # minutes once, then free
    finally:
        con.close()
    tmp = Path(tempfile.mkdtemp(prefix="bench-noise-"))
    setup = Setup(db_path, args.cache_dir)
    results = {
        "command": run_record.describe_command("bench_noise.py", argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "load_before": load_before,
        "n_captions": int(len(setup.labels)),
        "n_classes": setup.n_classes,
        "cache_fill": cache_fill,
        "features": bench_feature_throughput(setup),
        "library": bench_library_trainings(db_path, args.cache_dir, tmp),
    }
    head, grid = choose_head(setup, GRIDS[args.grid])
    results["chosen_head"] = head.to_dict()
    results["report"] = report_on_b(setup, head, grid)
    results["threshold"] = choose_threshold(setup, grid, head)
    results["grid"] = [{k: v for k, v in r.items() if k != "_out"} for r in grid]
    clean = next(r for r in results["report"] if r["noise"] == "no noise")
    results["gpu"] = bench_gpu(setup, clean["top1_b_clean"], db_path, tmp)
    results["load_after"] = run_record.read_load_average()
    run_record.write_results("noise", results, _markdown(results))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
