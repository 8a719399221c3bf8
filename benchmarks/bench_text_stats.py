"""Text statistics: vectorized polars build vs a straightforward per-caption NLTK loop.

Captions: a full-size synthetic ImageNet-Captions set (448,896 records shaped like the real
file, from benchmarks/make_captions_file.py) plus one description per class. Measures
1. the vectorized build (`compute_text_stats`) on the full set (median of --repeats runs),
2. the NLTK loop (`compute_reference_counts` + the same filtering and division in Python)
   and the vectorized build on the same --loop-fraction subset, with a check that both give
   identical vocabularies and values,
3. the end-to-end build through the database (`run_build_text_stats`: read captions, build,
   store the sparse matrix) on the full set.

Usage:
    .venv/bin/python benchmarks/bench_text_stats.py [--scale 1.0] [--loop-fraction 0.1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.make_captions_file import CLASS_COUNTS, _read_class_counts, make_records  # noqa: E402
from benchmarks.run_record import RESULTS  # noqa: E402
from curation.catalog import load_wordnet_glosses, seed_imagenet1k  # noqa: E402
from db.connect import connect  # noqa: E402
from extension.specs import TextStatsSpec  # noqa: E402
from extension.text.stats import MAX_CLASS_FRACTION, compute_reference_counts, compute_text_stats  # noqa: E402
from extension.text.store import run_build_text_stats  # noqa: E402


def make_examples(scale: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(captions frame filename/wnid/title/description/tags, examples frame wnid/text)."""
    columns = make_records(_read_class_counts(CLASS_COUNTS), seed=0, scale=scale)
    captions = pl.DataFrame(
        columns,
        schema={
            "filename": pl.Utf8,
            "wnid": pl.Utf8,
            "title": pl.Utf8,
            "description": pl.Utf8,
            "tags": pl.List(pl.Utf8),
        },
    )
    glosses = load_wordnet_glosses()
    wnids = captions["wnid"].unique().sort()
    descriptions = pl.DataFrame({"wnid": wnids, "text": [glosses.get(w, "") for w in wnids]})
    texts = captions.select(
        "wnid",
        pl.concat_str(
            [pl.col("title"), pl.col("description"), pl.col("tags").list.join(" ")], separator=" "
        ).alias("text"),
    )
    return captions, pl.concat([texts, descriptions])


def reference_stats(examples: list[tuple[str, str]]) -> dict[str, dict[str, float]]:
    """The NLTK loop, then the paper's filtering and division, in plain Python."""
    counts = compute_reference_counts(examples)
    n_examples: dict[str, int] = {}
    for wnid, _ in examples:
        n_examples[wnid] = n_examples.get(wnid, 0) + 1
    spread: dict[str, int] = {}
    for bucket in counts.values():
        for token in bucket:
            spread[token] = spread.get(token, 0) + 1
    limit = MAX_CLASS_FRACTION * len(n_examples)
    return {
        w: {t: c / n_examples[w] for t, c in bucket.items() if spread[t] <= limit}
        for w, bucket in counts.items()
    }


def _as_dict(stats) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {w: {} for w in stats.wnids}
    for row, col, value in stats.entries.iter_rows():
        out[stats.wnids[row]][stats.vocab[col]] = value
    return {w: d for w, d in out.items() if d}


def _median_seconds(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _db_build(captions: pl.DataFrame, examples: pl.DataFrame, repeats: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        con = connect(Path(tmp) / "bench.duckdb")
        seed_imagenet1k(con)
        # Benchmark fixture: bulk-load the synthetic records straight into the two tables.
        con.register("_caps", captions.to_arrow())
        con.execute(
            "INSERT INTO captions (source, filename, wnid, title, description, tags) "
            "SELECT 'synthetic', filename, wnid, title, description, tags FROM _caps"
        )
        con.unregister("_caps")
        descs = examples.tail(examples["wnid"].n_unique()).filter(pl.col("text") != "")
        con.register("_descs", descs.to_arrow())
        con.execute(
            "INSERT INTO active_descriptions "
            "(wnid, source, text, revision, updated_by, updated_at) "
            "SELECT wnid, 'wordnet', text, 1, 'bench', current_timestamp FROM _descs"
        )
        con.unregister("_descs")
        seconds, _ = _median_seconds(
            lambda: run_build_text_stats(con, TextStatsSpec(force=True)), repeats
        )
        con.close()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--loop-fraction", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    captions, examples = make_examples(args.scale)
    full_s, stats = _median_seconds(lambda: compute_text_stats(examples), args.repeats)
    subset = examples.sample(fraction=args.loop_fraction, seed=0)
    pairs = list(subset.iter_rows())
    reference_stats(pairs[:10])  # warm-up: the first call imports NLTK
    loop_s, reference = _median_seconds(lambda: reference_stats(pairs), 1)
    vec_s, vec_stats = _median_seconds(lambda: compute_text_stats(subset), args.repeats)
    got = _as_dict(vec_stats)
    equal = got.keys() == reference.keys() and all(
        got[w].keys() == reference[w].keys()
        and all(abs(got[w][t] - v) < 1e-12 for t, v in reference[w].items())
        for w in reference
    )
    db_s = _db_build(captions, examples, args.repeats)
    result = {
        "n_captions": captions.height,
        "n_examples": examples.height,
        "n_classes": len(stats.wnids),
        "n_tokens": len(stats.vocab),
        "n_values": stats.entries.height,
        "vectorized_full_s": full_s,
        "db_build_full_s": db_s,
        "subset_examples": subset.height,
        "nltk_loop_subset_s": loop_s,
        "vectorized_subset_s": vec_s,
        "speedup_subset": loop_s / vec_s,
        "nltk_loop_full_estimate_s": loop_s / args.loop_fraction,
        "identical_to_nltk_loop": equal,
        "repeats": args.repeats,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "text_stats.json").write_text(json.dumps(result, indent=1))
    lines = [
        "| build | examples | seconds (median) |",
        "|---|---:|---:|",
        f"| vectorized (polars), full | {examples.height:,} | {full_s:.2f} |",
        f"| through the DB (read + build + store), full | {examples.height:,} | {db_s:.2f} |",
        f"| NLTK loop, {args.loop_fraction:.0%} subset | {subset.height:,} | {loop_s:.2f} |",
        f"| vectorized, same subset | {subset.height:,} | {vec_s:.2f} |",
        "",
        f"Speed-up on the subset: {loop_s / vec_s:.1f}x; identical vocabulary and values: {equal}. "
        f"Vocabulary {len(stats.vocab):,} tokens, {stats.entries.height:,} non-zero values.",
    ]
    (RESULTS / "text_stats.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
