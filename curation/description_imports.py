"""Importing description candidates: the shipped sources, and user files (Wikipedia).

Every import is one transaction: a file's valid records are all stored or none are, and
problems are reported with the record's position instead of being dropped silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from contract.files import hash_bytes
from curation import access
from curation.description_sources import (
    FileRecord,
    get_description_source,
    insert_description_sources,
    list_description_sources,
    validate_description_text,
)
from db import classes as class_db
from db import descriptions as desc_db
from db.sql import transaction


@dataclass(frozen=True)
class DescriptionImportReport:
    """What an import of a user file did; problem rows are listed, never dropped silently.

    Attributes:
        problems: `{"position", "field", "wnid", "reason"}` per invalid record.
        unknown_wnids: `{"position", "wnid"}` per record whose class is not in the catalog.
        stored: whether the valid records were stored (all of them, in one transaction).
    """

    file_name: str
    source: str
    n_records: int
    n_inserted: int
    n_updated: int
    n_unchanged: int
    problems: tuple[dict, ...]
    unknown_wnids: tuple[dict, ...]
    stored: bool
    ingest_id: int | None = None

    def describe(self) -> str:
        """A short summary for the user."""
        head = f"{self.file_name}: {self.n_records} records"
        if self.stored:
            head += (
                f"; stored as '{self.source}': {self.n_inserted} new, {self.n_updated} updated, "
                f"{self.n_unchanged} unchanged"
            )
        else:
            head += "; nothing stored"
        return head + f"; {len(self.problems)} invalid, {len(self.unknown_wnids)} unknown wnids."


def import_builtin_sources(
    con: duckdb.DuckDBPyConnection, *, actor: str | None = None
) -> dict[str, int]:
    """Store the shipped sources' texts (wordnet, wiktionary, gpt) for every catalog class.

    Idempotent; one transaction. Also registers every description source with its license.

    Returns:
        Per source key, how many catalog classes have a text from it afterwards.
    """
    access.require(con, actor, "import")
    known = class_db.list_known_wnids(con)
    texts = {s.key: s.loader() for s in list_description_sources(origin="package")}

    def work(tx: duckdb.DuckDBPyConnection) -> dict[str, int]:
        insert_description_sources(tx)
        counts = {}
        for key, mapping in texts.items():
            rows = [(w, t) for w, t in mapping.items() if w in known]
            frame = pl.DataFrame(rows, schema={"wnid": pl.Utf8, "text": pl.Utf8}, orient="row")
            desc_db.upsert_description_candidates(tx, source=key, frame=frame)
            counts[key] = desc_db.count_description_candidates(tx, source=key)
        return counts

    return transaction(con, work)


def import_wikipedia_file(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    strict: bool = False,
    actor: str | None = None,
) -> DescriptionImportReport:
    """Import Wikipedia summaries from a CSV or JSON file with `wnid` and `text` fields.

    See `import_description_content` for what is stored and reported.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"No such file: {path}")
    return import_description_content(
        con, path.read_bytes(), file_name=str(path), source="wikipedia", strict=strict, actor=actor
    )


def import_description_content(
    con: duckdb.DuckDBPyConnection,
    content: bytes,
    *,
    file_name: str,
    source: str = "wikipedia",
    strict: bool = False,
    actor: str | None = None,
) -> DescriptionImportReport:
    """Validate a user file's records and store the valid ones as `source` candidates.

    Invalid records (missing/empty wnid or text, text over `MAX_DESCRIPTION_CHARS`, duplicate
    wnid, wrong field count) and records of classes not in the catalog are reported with
    their position. The valid ones are stored in one transaction, together with an
    `ingest_runs` row; with `strict`, nothing is stored when any record has a problem.

    Raises:
        ValueError: a source that is not file-imported, or a file that cannot be parsed or
            lacks the `wnid`/text columns. Nothing is stored then.
    """
    access.require(con, actor, "import")
    spec = get_description_source(source)
    if spec.origin != "file":
        raise ValueError(
            f"{source!r} is not imported from files; file sources: "
            f"{', '.join(s.key for s in list_description_sources(origin='file'))}."
        )
    records = spec.loader(content, file_name=file_name)
    valid, problems, unknown = _compute_import_check(records, class_db.list_known_wnids(con))
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    ingest_id, store = None, bool(valid) and not (strict and (problems or unknown))
    if store:
        frame = pl.DataFrame(valid, schema={"wnid": pl.Utf8, "text": pl.Utf8}, orient="row")
        report_json = json.dumps({"problems": problems, "unknown_wnids": unknown})

        def work(tx: duckdb.DuckDBPyConnection) -> tuple[dict, int]:
            insert_description_sources(tx)
            done = desc_db.upsert_description_candidates(tx, source=source, frame=frame)
            run_id = desc_db.insert_import_run(
                tx,
                source=source,
                path=file_name,
                sha256=hash_bytes(content),
                n_records=len(records),
                n_inserted=done["inserted"],
                n_updated=done["updated"],
                n_unchanged=done["unchanged"],
                n_invalid=len(problems),
                n_unknown_wnid=len(unknown),
                report_json=report_json,
            )
            return done, run_id

        counts, ingest_id = transaction(con, work)
    return DescriptionImportReport(
        file_name,
        source,
        len(records),
        counts["inserted"],
        counts["updated"],
        counts["unchanged"],
        tuple(problems),
        tuple(unknown),
        store,
        ingest_id,
    )


def _compute_import_check(
    records: list[FileRecord], known: set[str]
) -> tuple[list[tuple[str, str]], list[dict], list[dict]]:
    valid, problems, unknown, seen = [], [], [], {}
    for record in records:
        wnid = record.wnid.strip() if isinstance(record.wnid, str) else record.wnid
        field, reason = _compute_record_problem(record, wnid, seen)
        if reason is not None:
            problems.append(
                {"position": record.position, "field": field, "wnid": str(wnid), "reason": reason}
            )
        elif wnid not in known:
            unknown.append({"position": record.position, "wnid": wnid})
        else:
            seen[wnid] = record.position
            valid.append((wnid, record.text))
    return valid, problems, unknown


def _compute_record_problem(
    record: FileRecord, wnid: object, seen: dict[str, str]
) -> tuple[str, str | None]:
    if record.problem:
        return "record", record.problem
    if not isinstance(wnid, str) or not wnid:
        return "wnid", "missing or empty"
    if wnid in seen:
        return "wnid", f"duplicate of {seen[wnid]}"
    try:
        validate_description_text(record.text if record.text is not None else "")
    except ValueError as exc:
        return "text", "missing" if record.text is None else str(exc)
    return "text", None
