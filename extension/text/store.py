"""Build, store and load the text statistics of the base classes (rebuilt when inputs change).

Only the base classifier's classes (`classes.class_index` set) enter the statistics, so the
vocabulary does not move when a class is added; an added class's texts are projected onto
it (`compute_text_vector`). The stored build carries a fingerprint of its inputs (count and
hashes of every caption text and active description). A build runs as a job
(`run_build_text_stats`, kind 'text-stats'), never on a page's script thread: readers load
the stored build as it is (`load_text_stats`) and ask `get_text_stats_state` whether it is
stale, and a job that needs current statistics builds them first (`ensure_text_stats`).
"""

from __future__ import annotations

import time

import duckdb
import numpy as np
import polars as pl

from contract.progress import Progress, no_progress
from db import text_stats as stats_db
from extension.specs import TextStatsSpec
from extension.text.stats import MAX_CLASS_FRACTION, TOKEN_REGEX, TextStats, compute_text_stats

STATES = ("missing", "stale", "current")


def get_text_stats_state(con: duckdb.DuckDBPyConnection) -> str:
    """'missing' (never built), 'stale' (texts changed since the build) or 'current'."""
    current = stats_db.get_current_build(con)
    if current is None:
        return "missing"
    return (
        "current"
        if current["fingerprint"] == stats_db.compute_examples_fingerprint(con)
        else "stale"
    )


def ensure_text_stats(con: duckdb.DuckDBPyConnection, progress: Progress | None = None) -> dict:
    """Build the statistics when missing or stale (inside a job). Returns the build summary."""
    return run_build_text_stats(con, TextStatsSpec(), progress)


def run_build_text_stats(
    con: duckdb.DuckDBPyConnection,
    spec: TextStatsSpec | None = None,
    progress: Progress | None = None,
) -> dict:
    """Job entry point: build and store the statistics unless the stored build matches the
    current inputs (or `spec.force`).

    Returns:
        The build's summary (`build_id`, `fingerprint`, `n_classes`, `n_tokens`, `n_examples`,
        `build_seconds`, `rebuilt`).
    """
    spec, progress = spec or TextStatsSpec(), progress or no_progress
    fingerprint = stats_db.compute_examples_fingerprint(con)
    current = stats_db.get_current_build(con)
    if current and current["fingerprint"] == fingerprint and not spec.force:
        return {**_summary(current), "rebuilt": False}
    progress(0.1, "reading class texts")
    start = time.perf_counter()
    examples = stats_db.list_class_examples(con)
    stats = compute_text_stats(examples)
    seconds = time.perf_counter() - start
    progress(0.7, f"storing {stats.entries.height:,} values over {len(stats.vocab):,} tokens")
    stats_db.insert_text_stats(
        con,
        fingerprint=fingerprint,
        params={
            "max_class_fraction": MAX_CLASS_FRACTION,
            "token_regex": TOKEN_REGEX,
            "examples": "caption records + active description",
        },
        classes=pl.DataFrame(
            {
                "row_id": np.arange(len(stats.wnids), dtype=np.int32),
                "wnid": list(stats.wnids),
                "n_examples": stats.n_examples.astype(np.int32),
            }
        ),
        vocab=pl.DataFrame(
            {
                "token_id": np.arange(len(stats.vocab), dtype=np.int32),
                "token": list(stats.vocab),
                "n_classes": stats.class_counts.astype(np.int32),
            }
        ),
        values=stats.entries.rename({"row": "row_id", "col": "token_id"}),
        build_seconds=seconds,
    )
    progress(1.0, "text statistics built")
    return {**_summary(stats_db.get_current_build(con)), "rebuilt": True}


def load_text_stats(con: duckdb.DuckDBPyConnection) -> tuple[TextStats, dict]:
    """The stored statistics and their build row, as they are (never rebuilt here).

    Raises:
        ValueError: no statistics were built yet (run the 'text-stats' job or
            `workbench text-stats`).
    """
    build = stats_db.get_current_build(con)
    if build is None:
        raise ValueError(
            "The class text statistics are not built yet: run `workbench text-stats` (the "
            "pages queue it as a background job)."
        )
    frames = stats_db.load_build_frames(con, build["build_id"])
    values = frames["values"]
    stats = TextStats(
        wnids=tuple(frames["classes"]["wnid"].to_list()),
        vocab=tuple(frames["vocab"]["token"].to_list()),
        n_examples=frames["classes"]["n_examples"].to_numpy().astype(np.int64),
        entries=pl.DataFrame(
            {
                "row": values["row_id"].cast(pl.Int32),
                "col": values["token_id"].cast(pl.Int32),
                "value": values["value"],
            }
        ),
        class_counts=frames["vocab"]["n_classes"].to_numpy().astype(np.int64),
    )
    return stats, build


def _summary(build: dict) -> dict:
    keys = ("build_id", "fingerprint", "n_classes", "n_tokens", "n_examples", "build_seconds")
    return {k: build[k] for k in keys}


def compute_class_table1(con: duckdb.DuckDBPyConnection, wnid: str, *, k: int = 5) -> dict:
    """The paper's Table 1 for one base class (closest, furthest, mean per distance) and its
    k nearest classes per distance, from the text statistics alone.

    Raises:
        ValueError: the class has no text in the statistics.
    """
    from db.classes import list_classes
    from extension.text.distances import (
        compute_base_distances,
        compute_gram,
        compute_nearest,
        compute_table1,
        list_distances,
    )

    stats, _ = load_text_stats(con)
    row = stats.row_index().get(wnid)
    if row is None:
        raise ValueError(f"{wnid!r} has no text in the statistics (not a base class with texts).")
    gram = compute_gram(stats.to_sparse())
    names = {r["wnid"]: r["name"] for r in list_classes(con).iter_rows(named=True)}
    dists = {d: compute_base_distances(gram, distance=d)[row] for d in list_distances("tokens")}
    wnids = list(stats.wnids)
    return {
        "table1": compute_table1(dists, wnids, names, exclude=row),
        "nearest": {
            d: compute_nearest(v, wnids, names, k=k, exclude=row) for d, v in dists.items()
        },
    }
