"""Leave-one-out benchmark of every registered synthesis method (the `workbench loo` engine).

Database: --db, or a development database with the embedded default texts (ImageNet-X
per-image texts, CC BY-NC 4.0, + one description per class; benchmarks/dev_db.py).
Image sets (embedded once with the base model, cached under .cache/embeddings/):
- `tiny`: Tiny-ImageNet-200 val, 32 px upscaled (--per-class images of each of 200 classes;
  a weak but real signal: the trained rows themselves only reach a modest AUROC there);
- `foolbox`: foolbox's 20 labelled full-size ImageNet photos (one per class: AUROC and the
  1000-way test over 20 images only).
Also times leave-one-out over all classes with both distances once the vectors exist
(target <= 5 s) and the synthesis of one new class (target: well under a second).

Usage:
    .venv/bin/python benchmarks/bench_loo.py [--db PATH] [--per-class 50] [--sets tiny,foolbox]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.dev_db import build_dev_database  # noqa: E402
from benchmarks.tiny_imagenet import load_tiny_imagenet_val  # noqa: E402
from db.connect import connect  # noqa: E402
from extension.images.uploads import write_sample_photo_folder  # noqa: E402
from extension.models import load_base_classifier  # noqa: E402
from extension.specs import ModelSpec  # noqa: E402
from extension.synthesis.donors import compute_new_rows, load_donors  # noqa: E402
from extension.synthesis.loo import (  # noqa: E402
    IMAGE_SUMMARY_KEYS,
    compute_loo,
    load_labeled_images,
)
from extension.synthesis.methods import list_methods, resolve_method  # noqa: E402
from extension.text.store import ensure_text_stats  # noqa: E402

RESULTS = REPO_ROOT / "benchmarks" / "results"
CACHE = REPO_ROOT / ".cache"
COLUMNS = ("method", "row_cosine_mean", *IMAGE_SUMMARY_KEYS)


def load_foolbox_folder(cache_dir: Path = CACHE) -> Path:
    """foolbox's 20 ImageNet photos copied into `<cache>/foolbox-imagenet/<wnid>/`."""
    return write_sample_photo_folder(cache_dir / "foolbox-imagenet")


def _timings(donors, repeats: int = 5) -> dict:
    methods = [resolve_method(n) for n in ("paper-cosine", "paper-euclidean")]
    loo = []
    for _ in range(repeats):
        start = time.perf_counter()
        for spec in methods:
            compute_loo(donors, spec, None, None)
        loo.append(time.perf_counter() - start)
    text = ["A small domesticated feline with soft fur, whiskers and a long tail."]
    one = []
    for _ in range(repeats):
        start = time.perf_counter()
        compute_new_rows(donors, text, resolve_method("ridge-norm-idf"))
        one.append(time.perf_counter() - start)
    return {
        "loo_all_classes_both_distances_s": statistics.median(loo),
        "one_new_class_s": statistics.median(one),
        "n_classes": len(donors.wnids),
    }


def _scale_study(donors, images, targets: list[str], method: str, scales: list[float]) -> dict:
    """Choose the row scale on half of the classes (max 1000-way F1), report on the other half.

    The halves are fixed (alternate classes in wnid order); both directions are averaged, so
    no class's own images choose the scale it is scored with.
    """
    from dataclasses import replace

    keys = ("auroc_mean", "top1", "top5", "gen_precision", "gen_f1")
    halves = [targets[0::2], targets[1::2]]
    base = resolve_method(method)

    def run(scale: float, part: int) -> dict:
        params = tuple(sorted({**base.param_dict(), "scale": scale}.items()))
        return compute_loo(donors, replace(base, params=params), halves[part], images)[0]

    out = []
    for pick, score in ((0, 1), (1, 0)):
        best = max(scales, key=lambda sc: run(sc, pick)["gen_f1"])
        result = run(best, score)
        out.append({"scale": best, **{k: result[k] for k in keys}})
    return {
        "method": method,
        "chosen_scales": [o["scale"] for o in out],
        **{k: statistics.mean(o[k] for o in out) for k in keys},
    }


def _scale_lines(study: list[dict]) -> list[str]:
    lines = [
        "Row scale chosen on half of the classes (alternate wnids), scored on the other half, "
        "both ways averaged:",
        "",
        "| method | chosen scales | auroc | top1 | top5 | gen_precision | gen_f1 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in study:
        lines.append(
            f"| {r['method']} | {r['chosen_scales']} | {r['auroc_mean']:.3f} | {r['top1']:.3f} "
            f"| {r['top5']:.3f} | {r['gen_precision']:.3f} | {r['gen_f1']:.3f} |"
        )
    return lines + [""]


def _table(rows: list[dict], title: str) -> list[str]:
    lines = [f"### {title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append(
            "| "
            + " | ".join(
                f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in COLUMNS
            )
            + " |"
        )
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--sets", default="tiny,foolbox")
    args = parser.parse_args(argv)
    db_path = args.db or build_dev_database(CACHE / "dev" / "workbench.duckdb")
    con = connect(db_path)
    ensure_text_stats(con)
    base = load_base_classifier(ModelSpec(), cache_dir=CACHE)
    donors = load_donors(con, base.head, list(base.class_wnids))
    timings = _timings(donors)
    folders = {"tiny": lambda: load_tiny_imagenet_val(CACHE), "foolbox": load_foolbox_folder}
    report = {"timings": timings, "sets": {}}
    lines = [
        "## Leave-one-out, every method (EfficientNet-Lite0; texts: ImageNet-X + description)",
        "",
    ]
    for name in [s for s in args.sets.split(",") if s]:
        per_class = args.per_class if name == "tiny" else 0
        images = load_labeled_images(
            base, folders[name](), max_per_class=per_class, cache_dir=CACHE
        )
        held = {base.class_wnids[i] for i in images.labels.tolist()}
        targets = sorted(held & set(donors.wnids))
        rows = []
        for method in list_methods():
            summary, _ = compute_loo(donors, resolve_method(method), targets, images)
            rows.append(summary)
        trained = {
            "method": "trained row (reference)",
            "auroc_mean": rows[0]["trained_auroc_mean"],
            "ap_mean": rows[0]["trained_ap_mean"],
        }
        report["sets"][name] = {
            "n_images": rows[0]["n_images"],
            "n_classes": len(targets),
            "results": rows,
        }
        lines += _table(
            [*rows, trained], f"{name}: {rows[0]['n_images']} images, {len(targets)} classes"
        )
        if name == "tiny":
            scales = [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.75, 2.0]
            study = [
                _scale_study(donors, images, targets, m, scales)
                for m in ("topk-norm-idf", "ridge-norm-idf", "ridge-deviation-idf")
            ]
            report["sets"][name]["scale_study"] = study
            lines += _scale_lines(study)
    lines += [
        "Timings (median of 5, this CPU): leave-one-out over "
        f"{timings['n_classes']} classes x both paper distances "
        f"{timings['loo_all_classes_both_distances_s']:.2f} s; one new class "
        f"(ridge-norm-idf) {timings['one_new_class_s'] * 1000:.0f} ms."
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "loo.json").write_text(json.dumps(report, indent=1, default=str))
    (RESULTS / "loo.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
