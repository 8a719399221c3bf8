"""Benchmark: ImageNet-Captions ingest (time, peak memory) and caption search latency.

Targets (issue 2, on a 2-core machine): the full 448,896-record file ingested in at most 15 s
with at most 2 GB peak memory; one filtered page of captions in at most 200 ms.

What is measured:
- ingest: `curation.captions.ingest_caption_file` on a fresh database (catalog seeded
  beforehand), each run in its own subprocess, so the peak resident memory (ru_maxrss) is
  that of one ingest process including Python, DuckDB and polars; then a re-ingest of the
  same file into the filled database (everything 'unchanged'). Medians over `--repeats`.
- search: `db.captions.list_captions` (one page of 50 and the total count) on the full
  database (the synthetic ImageNet-Captions file plus ImageNet-X, 509K captions): median of
  `--search-repeats` calls per query, for class, source, search and offset filters.

The input is the synthetic full-size file of `make_captions_file.py` (made if missing). The
machine is shared, so the 1-minute load average is recorded before and after.

Usage:
    .venv/bin/python benchmarks/bench_captions.py [--file PATH] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import duckdb  # noqa: E402

from benchmarks import run_record  # noqa: E402
from benchmarks.make_captions_file import DEFAULT_OUT  # noqa: E402
from curation.captions import ingest_caption_file  # noqa: E402
from curation.catalog import seed_imagenet1k  # noqa: E402
from curation.imagenet_x import ingest_imagenet_x  # noqa: E402
from db.captions import list_captions  # noqa: E402
from db.connect import connect  # noqa: E402

WORK_DIR = REPO_ROOT / ".cache" / "bench_captions"
SEARCH_QUERIES = {
    "class": {"wnid": "n02085620"},
    "class + search": {"wnid": "n02085620", "query": "dog"},
    "source": {"source": "imagenet-x"},
    "source + search": {"source": "imagenet-captions", "query": "sunset"},
    "search (common word)": {"query": "sunset"},
    "search (non-ASCII word)": {"query": "Rüstung"},
    "search (no match)": {"query": "zzqxj"},
    "class, page 5": {"wnid": "n04552348", "offset": 200},
    "all, offset 400,000": {"offset": 400_000},
}


def _cpu_seconds() -> float:
    """CPU time of this process, all threads (DuckDB's workers included), user + system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _fresh_db(path: Path) -> None:
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = connect(path)
    seed_imagenet1k(con)
    con.close()


def _child_ingest(db: str, file: str) -> None:
    """Subprocess body: one ingest, print seconds and this process's peak RSS as JSON."""
    con = connect(db)
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    report = ingest_caption_file(con, file)
    seconds, cpu_seconds = time.perf_counter() - started, _cpu_seconds() - cpu_started
    con.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "peak_rss_mb": peak_mb,
                "n_inserted": report["n_inserted"],
                "n_unchanged": report["n_unchanged"],
                "n_records": report["n_records"],
            }
        )
    )


def _run_child(db: Path, file: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child-ingest", str(db), str(file)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_ingest(file: Path, repeats: int) -> dict:
    fresh, again = [], []
    db = WORK_DIR / "ingest.duckdb"
    for _ in range(repeats):
        _fresh_db(db)
        fresh.append(_run_child(db, file))
        again.append(_run_child(db, file))
    return {
        "n_records": fresh[0]["n_records"],
        "fresh_seconds": [round(r["seconds"], 2) for r in fresh],
        "fresh_peak_rss_mb": [round(r["peak_rss_mb"]) for r in fresh],
        "reingest_seconds": [round(r["seconds"], 2) for r in again],
        "reingest_peak_rss_mb": [round(r["peak_rss_mb"]) for r in again],
        "fresh_cpu_seconds": [round(r["cpu_seconds"], 2) for r in fresh],
        "median_fresh_seconds": round(statistics.median(r["seconds"] for r in fresh), 2),
        "median_fresh_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in fresh), 2),
        "median_fresh_peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in fresh)),
        "median_reingest_seconds": round(statistics.median(r["seconds"] for r in again), 2),
        "median_reingest_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in again), 2),
        "all_inserted": all(r["n_inserted"] == r["n_records"] for r in fresh),
        "all_unchanged_on_reingest": all(r["n_unchanged"] == r["n_records"] for r in again),
    }


def bench_search(db: Path, repeats: int) -> dict:
    con = connect(db)
    if not con.execute("SELECT count(*) FROM captions WHERE source = 'imagenet-x'").fetchall()[0][
        0
    ]:
        ingest_imagenet_x(con)
    n_captions = con.execute("SELECT count(*) FROM captions").fetchall()[0][0]
    rows = []
    for name, filters in SEARCH_QUERIES.items():
        list_captions(con, **filters)  # warm-up (first touch of the columns)
        times, cpu = [], []
        for _ in range(repeats):
            started, cpu_started = time.perf_counter(), _cpu_seconds()
            frame, total = list_captions(con, **filters)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((_cpu_seconds() - cpu_started) * 1000)
        rows.append(
            {
                "query": name,
                "filters": filters,
                "total": total,
                "rows": frame.height,
                "median_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1),
                "median_cpu_ms": round(statistics.median(cpu), 1),
            }
        )
    con.close()
    return {
        "n_captions": n_captions,
        "page_size": 50,
        "repeats": repeats,
        "queries": rows,
        "max_median_ms": max(r["median_ms"] for r in rows),
    }


def _markdown(result: dict) -> str:
    ingest, search = result["ingest"], result["search"]
    lines = [
        "# Caption ingest and search benchmark",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']['cpus']} CPUs, Python {result['machine']['python']}, "
        f"DuckDB {result['machine']['duckdb']}, process niceness "
        f"{result['machine']['niceness']}; 1-min load average before/after: "
        f"{result['load_before']} / {result['load_after']}. The machine is shared: with a load "
        "above 2 the wall times include waiting for a core; the process CPU time (all threads) "
        "is what the work itself costs.  ",
        f"Input: {result['file_mb']} MB synthetic file, {ingest['n_records']:,} records "
        "(`benchmarks/make_captions_file.py`, shaped like the real ImageNet-Captions JSON).",
        "",
        "| measure | median wall | median CPU | wall per run | target |",
        "|---|---|---|---|---|",
        f"| ingest, fresh database | {ingest['median_fresh_seconds']} s | "
        f"{ingest['median_fresh_cpu_seconds']} s | {ingest['fresh_seconds']} | <= 15 s |",
        f"| ingest peak memory (whole process) | {ingest['median_fresh_peak_rss_mb']} MB | | "
        f"{ingest['fresh_peak_rss_mb']} MB | <= 2048 MB |",
        f"| re-ingest, same file (all unchanged) | {ingest['median_reingest_seconds']} s | "
        f"{ingest['median_reingest_cpu_seconds']} s | {ingest['reingest_seconds']} | |",
        "",
        f"Search: `list_captions` (page of 50 + total count) on {search['n_captions']:,} "
        f"captions, median of {search['repeats']} calls; target <= 200 ms.",
        "",
        "| filter | matches | median wall ms | max wall ms | median CPU ms |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['query']} | {r['total']:,} | {r['median_ms']} | {r['max_ms']} | "
        f"{r['median_cpu_ms']} |"
        for r in search["queries"]
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--search-repeats", type=int, default=9)
    parser.add_argument("--child-ingest", nargs=2, metavar=("DB", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_ingest:
        _child_ingest(*args.child_ingest)
        return 0
    if not args.file.exists():
        from benchmarks.make_captions_file import main as make_file

        make_file(["--out", str(args.file)])
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    load_before = run_record.read_load_average()
    ingest = bench_ingest(args.file, args.repeats)
    search = bench_search(WORK_DIR / "ingest.duckdb", args.search_repeats)
    result = {
        "command": run_record.describe_command("bench_captions.py", argv),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "niceness": os.nice(0),  # < 0 when run with `nice -n -N` on a shared machine
        },
        "load_before": load_before,
        "load_after": run_record.read_load_average(),
        "file_mb": round(args.file.stat().st_size / 1e6, 1),
        "ingest": ingest,
        "search": search,
    }
    run_record.RESULTS.mkdir(parents=True, exist_ok=True)
    (run_record.RESULTS / "captions.json").write_text(json.dumps(result, indent=2) + "\n")
    (run_record.RESULTS / "captions.md").write_text(_markdown(result))
    print(_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
