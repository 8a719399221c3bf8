"""ImageNet-X per-image texts as the embedded default caption source ('imagenet-x').

The `imagenet-x` package (code BSD-3; annotations CC BY-NC 4.0, non-commercial use only;
Idrissi et al. 2022, "ImageNet-X: Understanding Model Mistakes with Factor of Variation
Annotations") ships human annotations for 48,868 val and 11,233 train ImageNet images in
`imagenet_x/annotations/imagenet_x_{val,train}_top_factor.jsonl`. Each line has `file_name`,
`class` (ImageNet-1k index), 16 0/1 factor flags, `justification` (a sentence a person wrote
about the image) and `one_word` (a word or short phrase naming what stands out).

Mapping onto a caption row (decided here):
- filename = `file_name` (e.g. ILSVRC2012_val_00004487.JPEG or n03633091_15528.JPEG);
- wnid = the catalog class whose `class_index` is `class` (timm's 1k order; the train file
  names carry their wnid and all 11,233 agree with this mapping);
- title = `justification` trimmed: it is the human-written caption of the image, the
  counterpart of a Flickr title; description = '' (ImageNet-X has no longer text);
- tags = [`one_word`] trimmed, or [] when it is empty (a short free-text phrase, like a tag).
The factor flags are not text and are not stored. Null texts become ''.

The files are read as package data (the package itself imports pandas/scipy, which the
workbench does not need), in SQL by DuckDB. The ingest is idempotent and one transaction.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import duckdb

from contract.files import hash_bytes, hash_file
from contract.progress import Progress, no_progress
from curation.captions import register_caption_source
from db import caption_staging as staging_db
from db import captions as caption_db
from db import classes as class_db
from db.sql import transaction

SOURCE = "imagenet-x"
SPLITS = ("val", "train")


def load_annotation_paths(splits: tuple[str, ...] = SPLITS) -> list[Path]:
    """The `imagenet_x_{split}_top_factor.jsonl` files of the installed package.

    Raises:
        ValueError: an unknown split. RuntimeError: the package or a file is missing.
    """
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise ValueError(f"splits must be a non-empty subset of {SPLITS}, got {splits}")
    spec = importlib.util.find_spec("imagenet_x")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The imagenet-x package is not installed (pip install --no-deps imagenet-x==0.0.7)."
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "annotations"
    paths = [folder / f"imagenet_x_{split}_top_factor.jsonl" for split in splits]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise RuntimeError(f"ImageNet-X annotation files missing: {missing}")
    return paths


def ingest_imagenet_x(
    con: duckdb.DuckDBPyConnection,
    *,
    splits: tuple[str, ...] = SPLITS,
    limit: int | None = None,
    progress: Progress | None = None,
) -> dict:
    """Store the ImageNet-X texts as captions of source 'imagenet-x' (idempotent).

    Args:
        con: a connection or cursor not inside a transaction; the 1k catalog must be seeded.
        splits: which annotation files ('val', 'train').
        limit: keep only the first `limit` records by file name (small test databases).
        progress: `progress(fraction, message)`.

    Returns:
        {'source', 'n_records', 'n_inserted', 'n_updated', 'n_unchanged', 'n_skipped',
        'ingest_id'}:
        n_skipped counts records whose class index is not in the catalog.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of records or None, got {limit}")
    progress = progress or no_progress
    paths = load_annotation_paths(splits)
    if class_db.count_classes(con) == 0:
        raise ValueError("The class catalog is empty: seed it first (workbench build-demo).")
    started = time.perf_counter()
    progress(0.0, "reading ImageNet-X annotations")
    n_lines = sum(_count_lines(p) for p in paths)

    def work(tx: duckdb.DuckDBPyConnection) -> dict:
        n_staged = staging_db.stage_imagenet_x(tx, [str(p) for p in paths], limit=limit)
        progress(0.5, f"writing {n_staged:,} ImageNet-X captions")
        register_caption_source(tx, SOURCE)
        counts = caption_db.upsert_staged_captions(tx, source=SOURCE)
        n_records = min(n_lines, limit) if limit else n_lines
        report = _make_report(paths, counts, n_records=n_records, n_staged=n_staged, limit=limit)
        report["seconds"] = round(time.perf_counter() - started, 2)
        report["ingest_id"] = caption_db.insert_ingest_run(
            tx,
            source=SOURCE,
            path=str(paths[0].parent),
            sha256=_sha256_of(paths),
            counts={k: report[k] for k in caption_db.INGEST_RUN_COUNTS},
            report=report,
        )
        return report

    with staging_db.staging_tables(con):
        report = transaction(con, work)
    progress(1.0, f"ImageNet-X: {report['n_inserted']:,} new captions")
    keys = (
        "source",
        "n_records",
        "n_inserted",
        "n_updated",
        "n_unchanged",
        "n_skipped",
        "ingest_id",
    )
    return {k: report[k] for k in keys}


def _make_report(
    paths: list[Path], counts: dict, *, n_records: int, n_staged: int, limit: int | None
) -> dict:
    """An ingest report shaped like `curation.captions.ingest_caption_file`'s (nothing is
    invalid: the package's files are trusted; rows of unknown class indexes are counted)."""
    return {
        "file": ", ".join(p.name for p in paths),
        "source": SOURCE,
        "n_records": n_records,
        **counts,
        "n_skipped": n_records - n_staged,
        "n_invalid": 0,
        "n_repairs": 0,
        "n_unknown_wnid": n_records - n_staged,
        "limit": limit,
        "invalid": {"counts": [], "examples": []},
        "repaired": {"counts": [], "examples": []},
        "unknown_wnids": {"n_distinct": 0, "counts": []},
    }


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _sha256_of(paths: list[Path]) -> str:
    """SHA-256 over the files' hashes (one digest for the set of files)."""
    joined = "\n".join(f"{p.name} {hash_file(p)}" for p in paths)
    return hash_bytes(joined.encode())
