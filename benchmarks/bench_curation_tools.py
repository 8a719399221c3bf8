"""Curation tools at two sizes: semantic search latency (exact cosine over one normalised
float32 matrix), duplicate finding time and peak memory (SimHash candidates verified exactly +
connected components), and recall/precision of planted near-duplicates at the default
threshold; and the embeddings map's projection time (PCA, the instant view, and UMAP, the
`caption-map` job) at the size of five classes and at the map's default sample cap.

Features: random unit vectors of the real shape (N x 384) at both sizes: encoding 449K texts
with MiniLM on this shared 2-core CPU (about 14-38 texts/s measured) takes hours. Planted
near-duplicates: 1,000 copies at cosine 0.955..0.995 of random rows. Peak memory: the
process's max RSS growth (resource.getrusage), measured in a child process per size.

Map features: a mixture of 50 Gaussian clusters on the unit sphere (N x 384), closer to
caption features than uniform noise; UMAP's first call in a process also compiles its numba
code, timed separately as the warm-up (a fresh app pays it once).

Usage: .venv/bin/python benchmarks/bench_curation_tools.py [--sizes 60101 448896]
       [--map-sizes 2250 20000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.run_record import describe_command, read_load_average, write_results  # noqa: E402


def _planted(n: int, n_planted: int, dim: int = 384, seed: int = 0):
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, dim), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    sources = rng.choice(n - n_planted, n_planted, replace=False)
    for k, source in enumerate(sources):
        noise = rng.standard_normal(dim).astype(np.float32)
        noise -= (noise @ matrix[source]) * matrix[source]
        noise /= np.linalg.norm(noise)
        c = rng.uniform(0.955, 0.995)
        matrix[n - n_planted + k] = c * matrix[source] + np.sqrt(1 - c * c) * noise
    return matrix, sources, np.arange(n - n_planted, n)


def run_size(n: int) -> dict:
    import resource

    from curation.duplicates import DEFAULT_THRESHOLD, compute_group_labels, compute_similar_pairs
    from curation.search import compute_top_matches

    matrix, sources, copies = _planted(n, 1000)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rng = np.random.default_rng(1)
    latencies = []
    for q in rng.choice(n, 20, replace=False):
        start = time.perf_counter()
        compute_top_matches(matrix, matrix[q], top_k=50)
        latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    pairs = compute_similar_pairs(matrix, min_similarity=DEFAULT_THRESHOLD)
    labels = compute_group_labels(n, pairs.a, pairs.b)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    found = labels[sources] == labels[copies]
    planted = set(zip(sources.tolist(), copies.tolist(), strict=True))
    reported = list(zip(pairs.a.tolist(), pairs.b.tolist(), strict=True))
    true_pairs = sum((a, b) in planted or (b, a) in planted for a, b in reported)
    return {
        "n": n,
        "search_ms_median": 1000 * float(np.median(latencies)),
        "search_ms_max": 1000 * float(np.max(latencies)),
        "duplicates_s": seconds,
        "matrix_mb": matrix.nbytes / 2**20,
        "peak_rss_growth_mb": peak - base + matrix.nbytes / 2**20,
        "n_candidates": pairs.n_candidates,
        "recall": float(found.mean()),
        "precision": true_pairs / max(len(reported), 1),
        "threshold": DEFAULT_THRESHOLD,
    }


def run_map(m: int) -> dict:
    """Projection times of `m` clustered unit rows: PCA, UMAP warm-up (numba), UMAP."""
    from curation.projection import compute_pca, compute_umap

    rng = np.random.default_rng(2)
    centres = rng.standard_normal((50, 384)).astype(np.float32)
    rows = centres[rng.integers(0, 50, m)] + 0.6 * rng.standard_normal((m, 384), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    start = time.perf_counter()
    compute_pca(rows)
    pca_s = time.perf_counter() - start
    start = time.perf_counter()
    compute_umap(rows[:200])
    warmup_s = time.perf_counter() - start
    start = time.perf_counter()
    compute_umap(rows)
    umap_s = time.perf_counter() - start
    return {"m": m, "pca_s": pca_s, "umap_warmup_s": warmup_s, "umap_s": umap_s}


def _child(flag: str, n: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, flag, str(n)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[60101, 448896])
    parser.add_argument("--map-sizes", type=int, nargs="*", default=[2250, 20000])
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--one-map", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_size(args.one)))
        return
    if args.one_map:
        print(json.dumps(run_map(args.one_map)))
        return
    load = read_load_average()
    rows = [_child("--one", n) for n in args.sizes]
    maps = [_child("--one-map", m) for m in args.map_sizes]
    lines = [
        "# Curation tools: search, duplicates",
        "",
        f"Command: `{describe_command('bench_curation_tools.py', argv)}`; "
        f"load average {load:.1f} on a shared 2-core CPU (timings noisy). Features: random unit "
        "vectors (N x 384), 1,000 planted near-duplicates at cosine 0.955-0.995.",
        "",
        "| captions | search ms/query (median, max) | duplicates s | peak MB (incl. matrix) "
        "| candidates | recall | precision |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['search_ms_median']:.0f}, {r['search_ms_max']:.0f} | "
            f"{r['duplicates_s']:.1f} | {r['peak_rss_growth_mb']:.0f} | {r['n_candidates']:,} | "
            f"{r['recall']:.3f} | {r['precision']:.3f} |"
        )
    lines += [
        "",
        "## Embeddings map: projection time",
        "",
        "| captions on the map | PCA s | UMAP s | UMAP warm-up s (numba, once per app) |",
        "|---|---|---|---|",
    ]
    for r in maps:
        lines.append(
            f"| {r['m']:,} | {r['pca_s']:.2f} | {r['umap_s']:.1f} | {r['umap_warmup_s']:.1f} |"
        )
    results = {"load_average": load, "rows": rows, "map": maps}
    write_results("curation_tools", results, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
