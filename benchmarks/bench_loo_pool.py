"""Leave-one-out on a fixed photo pool: 1000-way precision comparable across image sets.

A synthesized row's 1000-way precision is the share of the photos it wins that are its own
class's, so it falls as the pool grows: the more photos of other classes there are, the more a
row can wrongly win (issue 22). `benchmarks/bench_loo.py` scores every set on its whole split
halves (250 photos per half-direction on the even set, 5,000 on Tiny at 50 per class), so its
precisions are not comparable between sets. Here each half-direction's pool is cut to exactly
`--pool` photos (a seeded sample; its classes are the ones left out and scored), with the
same protocol otherwise: scored on one class half, calibrated on the other half's photos
(all of them), both ways averaged, for the default methods and the paper's rule.

Usage:
    .venv/bin/python benchmarks/bench_loo_pool.py [--pool 100,200] [--sets even,tiny]
        [--per-class 50] [--seed 0]
Results: benchmarks/results/loo_pool.md and .json.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks import run_record  # noqa: E402
from benchmarks.bench_loo import (  # noqa: E402
    CACHE,
    HEADERS,
    METRICS,
    _load_sets,
    _mean,
    _split,
)
from benchmarks.dev_db import build_dev_database  # noqa: E402
from db.connect import connect  # noqa: E402
from encoders.text_encoder import load_text_encoder  # noqa: E402
from extension.models import load_base_classifier  # noqa: E402
from extension.specs import ModelSpec  # noqa: E402
from extension.synthesis.builtin import load_builtin_calibration  # noqa: E402
from extension.synthesis.calibration import uses_builtin_images  # noqa: E402
from extension.synthesis.donors import load_donors  # noqa: E402
from extension.synthesis.loo import (  # noqa: E402
    LabeledImages,
    compute_calibration_images,
    compute_loo,
)
from extension.synthesis.methods import list_default_methods, resolve_method  # noqa: E402
from extension.text.store import ensure_text_stats  # noqa: E402

METHODS = (
    *list_default_methods(calibration_images=True, embeddings=True),
    list_default_methods(calibration_images=False, embeddings=True)[0],
)


def sample_pool(images: LabeledImages, n: int, seed: int) -> LabeledImages:
    """At most `n` photos of `images`, a seeded sample without replacement."""
    import torch

    if len(images.labels) <= n:
        return images
    keep = torch.randperm(len(images.labels), generator=torch.Generator().manual_seed(seed))[:n]
    keep = keep.sort().values
    return LabeledImages(images.features[keep], images.labels[keep], images.trained_logits[keep])


def score_fixed_pool(donors, base, images: LabeledImages, method: str, n: int, seed: int) -> dict:
    """`method` scored on a pool of `n` photos of each class half (its classes left out),
    calibrated on the other half's photos, both directions averaged."""
    halves, parts = _split(base, images)
    spec = resolve_method(method)
    if uses_builtin_images(spec.calibration):
        calibrations = [load_builtin_calibration(base, cache_dir=CACHE)] * 2
    else:
        calibrations = [
            compute_calibration_images(base, part, source=f"half {i}")
            for i, part in enumerate(parts)
        ]
    summaries = []
    for s in (0, 1):
        pool = sample_pool(parts[s], n, seed + s)
        targets = sorted({base.class_wnids[i] for i in pool.labels.tolist()})
        summaries.append(
            compute_loo(donors, spec, targets, pool, calibration=calibrations[1 - s])[0]
        )
    row = _mean(summaries)
    row["n_classes"] = sum(x["n_image_classes"] for x in summaries) / len(summaries)
    return row


def render_markdown(results: dict) -> str:
    lines = [
        "# Leave-one-out on a fixed photo pool (issue 22)",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}; load average before/after: {results['load_before']} / "
        f"{results['load_after']}",
        "",
        "Each half-direction's pool is cut to the stated number of photos (seeded sample; the "
        "sampled photos' classes are left out and scored); calibration on the other class "
        "half's photos; both directions averaged. EfficientNet-Lite0; texts: ImageNet-X + "
        "class text (lemmas + every stored description); sentence encoder all-MiniLM-L6-v2.",
        "",
        "| set | pool (photos) | classes scored | method | "
        + " | ".join(HEADERS[m] for m in METRICS)
        + " |",
        "|---|---:|---:|---|" + "---:|" * len(METRICS),
    ]
    for row in results["rows"]:
        values = " | ".join(f"{row[m]:.3f}" for m in METRICS)
        lines.append(
            f"| {row['set']} | {row['pool']} | {row['n_classes']:.0f} | {row['method']} | "
            f"{values} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--pool", default="100,200", help="photos per half-direction")
    parser.add_argument("--sets", default="even,tiny")
    parser.add_argument("--per-class", type=int, default=50, help="Tiny photos per class")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    load_before = run_record.read_load_average()
    db_path = args.db or build_dev_database(CACHE / "dev" / "workbench.duckdb")
    con = connect(db_path)
    ensure_text_stats(con)
    base = load_base_classifier(ModelSpec(), cache_dir=CACHE)
    donors = load_donors(
        con, base.head, list(base.class_wnids), text_encoder=load_text_encoder(cache_dir=CACHE)
    )
    con.close()
    names = [s for s in args.sets.split(",") if s]
    sets = _load_sets(names, base, args.per_class)
    rows = []
    for name in names:
        for n in (int(p) for p in args.pool.split(",")):
            for method in METHODS:
                row = score_fixed_pool(donors, base, sets[name], method, n, args.seed)
                rows.append({"set": name, "pool": n, **row})
                print(name, n, method, round(row["gen_f1"], 3), flush=True)
    results = {
        "command": run_record.describe_command("bench_loo_pool.py", argv),
        "machine": platform.machine(),
        "load_before": load_before,
        "load_after": run_record.read_load_average(),
        "rows": rows,
    }
    run_record.write_results("loo_pool", results, render_markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
