"""Per-image captions: ingest of the official ImageNet-Captions JSON, with a validation report.

The official file (Fang et al. 2022) is a JSON list of records
`{"filename", "wnid", "title", "description", "tags"}`; the real one has 448,896 records
(131 MB). DuckDB parses and checks it in SQL (`db.caption_staging`), which ingests the full file
in a few seconds; a Python loop over records would take far longer.

Validation rules (decided here, reported, never silent):
- A record must be a JSON object; `filename` a non-empty string without control characters
  (it is the key, so it is never truncated or repaired: a bad one makes the record invalid);
  `wnid` a string; `title`/`description` strings; `tags` a list of strings.
- Repaired, stored and counted ('fixed'): a missing or null `title`/`description` -> '',
  missing or null `tags` -> []; text longer than its cap (`CaptionLimits`) truncated; NUL bytes
  removed. Text is never evaluated or rendered as markup anywhere.
- Invalid, not stored, reported with index, field and reason: everything else, including a
  second record with the same filename (the first one is kept). Duplicate keys inside one
  object: the first value wins (DuckDB's parser).
- A valid record whose wnid is not in `classes` is not stored; unknown wnids are counted.
- A file that is not a JSON list (or not valid UTF-8 JSON) raises `ValueError` naming the file
  and the position: the byte offset in the file and the 0-based record index
  (`curation.json_errors`); nothing is written. A directory is named as one.

Re-ingesting: key = (source, filename). A record equal to the stored one is 'unchanged', a
different one 'updated' (the file is the truth for its own records; rows not in the file
stay). The whole ingest is one transaction plus one `ingest_runs` row holding the report.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from contract.files import hash_file
from contract.progress import Progress, no_progress
from contract.specs import JsonSpec
from curation.json_errors import find_json_list_error
from db import caption_staging as staging_db
from db import captions as caption_db
from db import classes as class_db
from db.sql import DatabaseWriteError, compute_write_error, transaction

DEFAULT_SOURCE = "imagenet-captions"
SOURCE_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}\Z")  # full match, ASCII
EXAMPLES_PER_REASON = 3
# DuckDB's ", at byte N in record/value M" counts within a record: misleading, so dropped.
_DUCKDB_POSITION = re.compile(r",? at byte \d+ in record/value \d+")
TOP_UNKNOWN_WNIDS = 50


@dataclass(frozen=True)
class CaptionLimits:
    """Caps on field sizes (characters). Real Flickr titles are short and descriptions rarely
    pass a few thousand characters; the caps only bound hostile or broken input."""

    max_filename: int = 512
    max_title: int = 2_000
    max_description: int = 20_000
    max_tag: int = 200
    max_tags: int = 200


@dataclass(frozen=True)
class IngestCaptionsSpec(JsonSpec):
    """Job spec of `run_ingest_captions` (stored as JSON with the job).

    Attributes:
        path: the JSON file on the server.
        source: the caption source name the records are stored under.
        display_name: the name recorded in `ingest_runs` (e.g. an uploaded file's own name).
        remove_file_after: delete `path` when done (a temporary copy of an upload).
    """

    path: str
    source: str = DEFAULT_SOURCE
    display_name: str | None = None
    remove_file_after: bool = False


@dataclass(frozen=True)
class CaptionSource:
    """A per-image text source with its license, as registered in `sources` (kind 'caption')."""

    source: str
    title: str
    license: str
    attribution: str
    url: str | None = None


# Known caption sources, keyed by name. A file ingested under another name is registered
# with an 'unknown license' entry naming the file (see `register_caption_source`).
CAPTION_SOURCES: dict[str, CaptionSource] = {
    "imagenet-captions": CaptionSource(
        source="imagenet-captions",
        title="ImageNet-Captions",
        license="Per-image Flickr terms (each photo's own license); a user-supplied file, "
        "not redistributed with the workbench",
        attribution="Flickr titles, descriptions and tags of ImageNet training images, "
        "collected by Fang et al. 2022, 'Data Determines Distributional Robustness in "
        "Contrastive Language Image Pre-training (CLIP)' (ICML 2022)",
        url="https://github.com/mlfoundations/imagenet-captions",
    ),
    "imagenet-x": CaptionSource(
        source="imagenet-x",
        title="ImageNet-X annotations",
        license="CC BY-NC 4.0: non-commercial use only",
        attribution="Human-written per-image justifications and one-word notes by Idrissi "
        "et al. 2022, 'ImageNet-X: Understanding Model Mistakes with Factor of Variation "
        "Annotations' (ICLR 2023), from the imagenet-x package",
        url="https://github.com/facebookresearch/imagenetx",
    ),
}


def register_caption_source(
    con: duckdb.DuckDBPyConnection, source: str, *, file_name: str | None = None
) -> CaptionSource:
    """Register `source` in `sources` (kind 'caption') with its license; returns the entry."""
    info = CAPTION_SOURCES.get(source) or CaptionSource(
        source=source,
        title=source,
        license="Unknown: user-supplied file; check its own terms",
        attribution=f"Imported from the file {file_name or '(unnamed)'}",
    )
    class_db.upsert_source(con, kind="caption", **asdict(info))  # its fields are the columns
    return info


def check_caption_source_name(con: duckdb.DuckDBPyConnection, source: str) -> str:
    """Validate a caption source name for a file ingest and return it.

    Raises:
        ValueError: malformed, reserved for the embedded ImageNet-X importer, or already
            registered as a description source.
    """
    if not SOURCE_NAME_PATTERN.match(source or ""):
        raise ValueError(
            f"Invalid source name {source!r}: use lowercase letters, digits, '.', '_' or '-' "
            f"(at most 63 characters), e.g. {DEFAULT_SOURCE!r}."
        )
    if source == "imagenet-x":
        raise ValueError("'imagenet-x' is the embedded ImageNet-X source; choose another name.")
    descriptions = class_db.list_sources(con, kind="description")["source"].to_list()
    if source in descriptions:
        raise ValueError(f"{source!r} is a class-description source; choose another name.")
    return source


def check_caption_file(path: str | Path, *, display_name: str | None = None) -> Path:
    """Check that `path` is a readable, non-empty file whose first non-blank byte is '['.

    Args:
        display_name: the name messages use (an uploaded file's own name, so an error never
            names the server's temporary copy); default `path`.

    Raises:
        FileNotFoundError: no such file. ValueError: a directory, empty, or not a JSON list.
    """
    path = Path(path)
    name = display_name or str(path)
    if path.is_dir():
        raise ValueError(f"{name} is a directory, not a caption file (a JSON list).")
    if not path.is_file():
        raise FileNotFoundError(f"Caption file not found: {name}")
    with path.open("rb") as handle:
        head = handle.read(65_536)
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not stripped:
        raise ValueError(f"{name} is empty (or blank): expected a JSON list of caption records.")
    if stripped[:1] != b"[":
        offset = len(head) - len(stripped)
        raise ValueError(
            f"{name} is not a JSON list of caption records: it starts with "
            f"{stripped[:1].decode('latin-1')!r} at byte {offset}, expected '['."
        )
    return path


def list_import_files(folder: Path) -> list[Path]:
    """The caption files (*.json) lying directly in `folder` (the storage root's imports/),
    sorted by name; a link that leads outside the folder is not offered."""
    if not folder.is_dir():
        return []
    inside = folder.resolve()
    return sorted(
        path for path in folder.glob("*.json") if path.is_file() and path.resolve().parent == inside
    )


def ingest_caption_file(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    source: str = DEFAULT_SOURCE,
    display_name: str | None = None,
    limits: CaptionLimits = CaptionLimits(),
    progress: Progress | None = None,
) -> dict:
    """Validate and store an ImageNet-Captions JSON file in one transaction.

    Args:
        con: a connection or cursor not inside a transaction.
        path: the JSON list file.
        source: source name for the records (registered with its license).
        display_name: the file name recorded in the report (default: `path`).
        limits: field caps.
        progress: `progress(fraction, message)`; may raise to cancel (all is rolled back).

    Returns:
        The report (also stored in `ingest_runs.report_json`): counts n_records, n_inserted,
        n_updated, n_unchanged, n_invalid, n_repairs, n_unknown_wnid, and per-reason counts plus
        examples under 'invalid', 'repaired' and 'unknown_wnids'.

    Raises:
        FileNotFoundError, ValueError: a missing file, a file that is not a JSON list, a bad
            source name, or an empty catalog. Nothing is written then.
        db.sql.DatabaseWriteError: the disk is full (or the file cannot be written): one
            line naming the database; nothing was imported.
    """
    progress = progress or no_progress
    check_caption_source_name(con, source)
    file = check_caption_file(path)
    if class_db.count_classes(con) == 0:
        raise ValueError("The class catalog is empty: run `workbench build-demo` first.")
    started = time.perf_counter()
    progress(0.0, f"hashing {file.name}")
    sha256 = hash_file(file)
    name = display_name or str(file)

    def work(tx: duckdb.DuckDBPyConnection) -> dict:
        progress(0.1, "parsing JSON")
        n_records = _stage_file(tx, file)
        progress(0.5, f"validating {n_records:,} records")
        report = _validate_staged(tx, limits)
        progress(0.7, "writing captions")
        register_caption_source(tx, source, file_name=display_name or file.name)
        report.update(caption_db.upsert_staged_captions(tx, source=source))
        report.update(
            file=name,
            source=source,
            sha256=sha256,
            n_records=n_records,
            limits=asdict(limits),
            seconds=round(time.perf_counter() - started, 2),
        )
        progress(0.95, "recording the report")
        report["ingest_id"] = _record_run(tx, report)
        return report

    try:
        with staging_db.staging_tables(con):
            report = transaction(con, work)
    except DatabaseWriteError as exc:  # rolled back: the database is as it was
        raise DatabaseWriteError(f"{exc}: nothing was imported") from exc
    except duckdb.IOException as exc:  # the staging tables themselves found no room
        failure = compute_write_error(con, exc)
        raise DatabaseWriteError(f"{failure}: nothing was imported") from exc
    progress(1.0, f"done: {report['n_inserted']:,} new, {report['n_updated']:,} updated")
    return report


def _stage_file(con: duckdb.DuckDBPyConnection, file: Path) -> int:
    try:
        return staging_db.stage_caption_file(con, str(file))
    except (duckdb.InvalidInputException, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{file} is not a valid JSON list of caption records: {_describe_bad_json(file, exc)}"
        ) from exc


def _describe_bad_json(file: Path, exc: Exception) -> str:
    """Where the file goes wrong (byte offset in the file, 0-based record) and why."""
    if isinstance(exc, UnicodeDecodeError):
        theirs = "the file is not valid UTF-8 text"
    else:
        theirs = str(exc).splitlines()[0].removeprefix("Invalid Input Error: ").strip()
    located = find_json_list_error(file)  # DuckDB's own position counts within the record
    if located is None:
        return _DUCKDB_POSITION.sub("", theirs)
    reason = theirs.rsplit(": ", 1)[-1].strip().rstrip(".")
    extra = f" ({reason})" if reason and reason.lower() not in located.reason.lower() else ""
    return f"Malformed JSON {located.describe()}{extra}"


def _validate_staged(con: duckdb.DuckDBPyConnection, limits: CaptionLimits) -> dict:
    """Problems and unknown wnids of the staged file, and the clean rows staged for writing."""
    staging_db.insert_stage_problems(con, **asdict(limits))
    counts = staging_db.list_problem_counts(con)
    examples = staging_db.list_problem_examples(con, per_reason=EXAMPLES_PER_REASON)
    unknown = staging_db.list_unknown_wnids(con)
    caption_limits = {k: v for k, v in asdict(limits).items() if k != "max_filename"}
    n_clean = staging_db.stage_clean_captions(con, **caption_limits)
    report: dict = {"n_valid": n_clean, "n_invalid": staging_db.count_invalid_records(con)}
    for severity, key in (("invalid", "invalid"), ("fixed", "repaired")):
        report[key] = {
            "counts": counts.filter(severity=severity).drop("severity").to_dicts(),
            "examples": examples.filter(severity=severity).drop("severity").to_dicts(),
        }
    report["n_repairs"] = _count_repairs(report["repaired"]["counts"])
    report["n_unknown_wnid"] = int(unknown["n"].sum()) if unknown.height else 0
    report["unknown_wnids"] = {
        "n_distinct": unknown.height,
        "counts": unknown.head(TOP_UNKNOWN_WNIDS).to_dicts(),
    }
    return report


def _count_repairs(counts: list[dict]) -> int:
    """Repairs per (field, reason), summed: a record repaired twice counts twice."""
    return int(sum(row["n"] for row in counts))


def _record_run(con: duckdb.DuckDBPyConnection, report: dict) -> int:
    return caption_db.insert_ingest_run(
        con,
        source=report["source"],
        path=report["file"],
        sha256=report["sha256"],
        counts={k: report[k] for k in caption_db.INGEST_RUN_COUNTS},
        report=report,
    )


def run_ingest_captions(
    con: duckdb.DuckDBPyConnection, spec: IngestCaptionsSpec, progress: Progress
) -> dict:
    """Job entry point: ingest `spec.path`; remove it afterwards when asked (uploads)."""
    try:
        report = ingest_caption_file(
            con,
            spec.path,
            source=spec.source,
            display_name=spec.display_name,
            progress=progress,
        )
    finally:
        if spec.remove_file_after:
            Path(spec.path).unlink(missing_ok=True)
    return compute_report_summary(report)


def compute_report_summary(report: dict) -> dict:
    """The counts of a report, without the example lists (small enough for a job result)."""
    keys = (
        "ingest_id",
        "file",
        "source",
        "n_records",
        "n_inserted",
        "n_updated",
        "n_unchanged",
        "n_invalid",
        "n_repairs",
        "n_unknown_wnid",
        "seconds",
    )
    return {k: report[k] for k in keys if k in report}


def format_ingest_report(report: dict) -> str:
    """The report as plain text for a terminal or `st.code` (filenames shown via repr)."""
    lines = [
        f"File {report['file']} -> source {report['source']!r} (ingest run "
        f"{report.get('ingest_id', '?')}, {report.get('seconds', 0):.1f} s)",
        f"  records {report['n_records']:,}: inserted {report['n_inserted']:,}, updated "
        f"{report['n_updated']:,}, unchanged {report['n_unchanged']:,}, invalid (not stored) "
        f"{report['n_invalid']:,}, unknown wnid (not stored) {report['n_unknown_wnid']:,}",
    ]
    for key, title in (("invalid", "Invalid records"), ("repaired", "Repaired and stored")):
        if report[key]["counts"]:
            lines.append(f"{title}:")
            lines += [f"  {c['n']:>9,}  {c['field']}: {c['reason']}" for c in report[key]["counts"]]
            lines.append("  examples:")
            lines += [_format_example(e) for e in report[key]["examples"]]
    unknown = report["unknown_wnids"]
    if unknown["n_distinct"]:
        lines.append(f"Unknown wnids ({unknown['n_distinct']:,} distinct, not in the catalog):")
        lines += [
            f"  {u['n']:>9,}  {u['wnid']!r} (first at index {u['first_index']})"
            for u in unknown["counts"][:20]
        ]
    return "\n".join(lines)


def _format_example(example: dict) -> str:
    detail = f" ({example['detail']})" if example.get("detail") else ""
    name = f" filename={example['filename']!r}" if example.get("filename") is not None else ""
    return f"    index {example['index']}: {example['field']}: {example['reason']}{detail}{name}"
