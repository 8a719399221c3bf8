"""Sentence embeddings of every class text, and a click made while they are being built.

On the embedded default database (`workbench build-demo`: 1000 classes, their descriptions and
the ImageNet-X texts) with its text statistics built, each run on an empty embedding cache:
1. the 'text-embeddings' build alone (`run_embed_class_texts`, all-MiniLM-L6-v2 on this
   machine): total seconds, and texts/s per shard of 4,096 texts (median over the shards);
   then the same build again, everything cached;
2. the build as the pages start it, on the app's job worker, with a 'synthesize-class' job
   (the curator's click, token-feature default method) submitted `--click-after-s` seconds
   into it: how long the click waits for its draft, with the worker's two lanes (the build in
   the prefetch lane) and with one lane (every job in order, as before the lanes).

Usage:
    .venv/bin/python benchmarks/bench_text_embedding.py [--click-after-s 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks import run_record  # noqa: E402
from curation.demo import build_demo_database  # noqa: E402
from db.connect import connect  # noqa: E402
from extension.specs import AddClassSpec, TextEmbeddingSpec  # noqa: E402
from extension.synthesis.methods import list_default_methods, resolve_method  # noqa: E402
from extension.text.embedding import run_embed_class_texts  # noqa: E402
from extension.text.store import run_build_text_stats  # noqa: E402
from jobs.worker import LANES, JobWorker, submit_job, wait_for_job  # noqa: E402

ONE_LANE = {"main": {}}
WARSHIP = "A warship is a naval ship built for naval warfare, armed with guns and missiles."


@contextlib.contextmanager
def fresh_workdir():
    """A temporary working directory with an empty embedding cache (the base model's
    converted weights are shared from the repository's `.cache/models`)."""
    previous = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / ".cache"
        cache.mkdir()
        models = REPO_ROOT / ".cache" / "models"
        models.mkdir(parents=True, exist_ok=True)
        (cache / "models").symlink_to(models)
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(previous)


def make_database(folder: Path):
    """The default database with its text statistics built. Returns the connection."""
    con = connect(folder / "bench.duckdb")
    build_demo_database(con)
    run_build_text_stats(con)
    return con


def measure_build_alone() -> dict:
    """The build on an empty cache, then again on the full cache."""
    with fresh_workdir() as folder:
        con = make_database(folder)
        marks: list[tuple[float, float]] = []  # (seconds, fraction) after each shard

        def progress(fraction: float, message: str) -> None:
            if message.startswith("embedded"):
                marks.append((time.perf_counter(), fraction))

        start = time.perf_counter()
        first = run_embed_class_texts(con, TextEmbeddingSpec(), progress)
        total_s = time.perf_counter() - start
        start = time.perf_counter()
        run_embed_class_texts(con, TextEmbeddingSpec())
        cached_s = time.perf_counter() - start
        con.close()
    n_new = first["n_texts"]
    rates = []
    for (t0, f0), (t1, f1) in zip(marks, marks[1:], strict=False):
        rates.append((f1 - f0) * n_new / (t1 - t0))
    return {
        "n_texts": n_new,
        "build_s": total_s,
        "shard_texts_per_s_median": statistics.median(rates) if rates else None,
        "n_shards_timed": len(rates),
        "cached_build_s": cached_s,
    }


def measure_click_during_build(lanes: dict, click_after_s: float) -> dict:
    """Seconds from a synthesize click to its draft while the build runs on `lanes`."""
    with fresh_workdir() as folder:
        con = make_database(folder)
        reader = con.cursor()
        worker = JobWorker(con, lanes=lanes).start()  # polls as in the app
        try:
            build_start = time.perf_counter()
            build = submit_job(
                con, kind="text-embeddings", spec=TextEmbeddingSpec().to_dict(), worker=worker
            )
            wait_for_job(reader, build, ("running",))
            time.sleep(click_after_s)
            method = list_default_methods(calibration_images=False, embeddings=False)[0]
            spec = AddClassSpec(
                class_id="custom-warship",
                name="warship",
                description=WARSHIP,
                methods=(resolve_method(method),),
                actor="bench",
            )
            click_start = time.perf_counter()
            click = submit_job(con, kind="synthesize-class", spec=spec.to_dict(), worker=worker)
            clicked = wait_for_job(reader, click, timeout_s=3600)
            click_s = time.perf_counter() - click_start
            built = wait_for_job(reader, build, timeout_s=3600)
            build_s = time.perf_counter() - build_start
        finally:
            worker.stop(timeout_s=600)
            con.close()
    assert clicked["status"] == built["status"] == "succeeded", (clicked, built)
    return {"click_to_draft_s": click_s, "build_s": build_s, "method": method}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--click-after-s", type=float, default=5.0)
    args = parser.parse_args(argv)
    load_before = run_record.read_load_average()
    alone = measure_build_alone()
    two_lanes = measure_click_during_build(LANES, args.click_after_s)
    one_lane = measure_click_during_build(ONE_LANE, args.click_after_s)
    results = {
        "command": run_record.describe_command("bench_text_embedding.py", argv),
        "machine": run_record.describe_torch_machine(),
        "load_before": load_before,
        "load_after": run_record.read_load_average(),
        "build_alone": alone,
        "click_two_lanes": two_lanes,
        "click_one_lane": one_lane,
        "click_after_s": args.click_after_s,
    }
    markdown = "\n".join(
        [
            "# Sentence embeddings of the class texts, and a click during the build",
            "",
            f"`{results['command']}`; {results['machine']}; load {load_before} -> "
            f"{results['load_after']}.",
            "",
            "| measure | figure |",
            "|---|---:|",
            f"| class texts (default database) | {alone['n_texts']:,} |",
            f"| build on an empty cache | {alone['build_s']:.1f} s |",
            f"| texts/s per 4,096-text shard (median of {alone['n_shards_timed']}) | "
            f"{alone['shard_texts_per_s_median']:.0f} |",
            f"| build again, all cached | {alone['cached_build_s']:.1f} s |",
            f"| synthesize click {args.click_after_s:g} s into the build: to its draft, two lanes "
            f"| {two_lanes['click_to_draft_s']:.1f} s |",
            "| the same, one lane (queued behind the build) | "
            f"{one_lane['click_to_draft_s']:.1f} s |",
            f"| build time with the click beside it (two lanes) | {two_lanes['build_s']:.1f} s |",
            f"| build time, one lane | {one_lane['build_s']:.1f} s |",
            "",
            f"Method of the click: {two_lanes['method']} (the token-feature default: no "
            "embeddings yet).",
        ]
    )
    run_record.write_results("text_embedding", results, markdown + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
