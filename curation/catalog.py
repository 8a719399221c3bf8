"""The class catalog: the 1000 ImageNet-1k classes from timm's package data, plus classes
added later (any ImageNet-21k wnid, or a free-form class with its own id).

timm's data files are read as files, without importing timm (which imports torch).
"""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from pathlib import Path

import duckdb

from db import classes as class_db

# Names are checked in full and in ASCII: `\Z`, not `$` (which also matches before a final
# newline), and [0-9], not `\d` (which also matches Arabic-Indic and other digits).
WNID_PATTERN = re.compile(r"^n[0-9]{8}\Z")
CUSTOM_ID_PATTERN = re.compile(r"^custom-[a-z0-9][a-z0-9-]{0,62}\Z")


def _timm_info_dir() -> Path:
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The timm package is not installed; run `make test` or `make run`.")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "_info"


def _read_tab_file(name: str) -> dict[str, str]:
    lines = (_timm_info_dir() / name).read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t", 1) for line in lines if "\t" in line)


@cache
def load_imagenet1k_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k wnids in class-index order (timm's imagenet_synsets.txt)."""
    text = (_timm_info_dir() / "imagenet_synsets.txt").read_text(encoding="utf-8")
    wnids = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(wnids) != 1000:
        raise RuntimeError(f"expected 1000 ImageNet-1k wnids in timm's data, found {len(wnids)}")
    return wnids


@cache
def load_wordnet_lemmas() -> dict[str, str]:
    """wnid -> ', '-separated lemmas, for all 21,844 ImageNet-21k wnids."""
    return _read_tab_file("imagenet_synset_to_lemma.txt")


@cache
def load_wordnet_glosses() -> dict[str, str]:
    """wnid -> WordNet gloss (definition), for all ImageNet-21k wnids."""
    return _read_tab_file("imagenet_synset_to_definition.txt")


def _display_name(lemmas: str) -> str:
    return lemmas.split(",")[0].strip()


def seed_imagenet1k(con: duckdb.DuckDBPyConnection) -> int:
    """Insert the 1000 ImageNet-1k classes (idempotent). Returns how many were new."""
    lemmas = load_wordnet_lemmas()
    rows = [
        (wnid, index, _display_name(lemmas[wnid]), lemmas[wnid], "imagenet-1k")
        for index, wnid in enumerate(load_imagenet1k_wnids())
    ]
    return class_db.insert_classes(con, rows)


def slugify_custom_id(name: str) -> str:
    """A stable custom class id from a free-form name: 'War ship!' -> 'custom-war-ship'."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
    if not slug:
        raise ValueError(
            f"Cannot make a class id from the name {name!r}: it has no letters or digits."
        )
    return f"custom-{slug}"


def find_existing_classes(
    con: duckdb.DuckDBPyConnection, *, name: str, class_id: str = ""
) -> list[dict]:
    """Catalog classes (ImageNet-1k or added) a new class would duplicate: the same id, or a
    name equal (case and spacing aside) to the class's name or one of its WordNet lemmas.

    Returns:
        [{'wnid', 'name', 'origin'}], in catalog order (empty: nothing alike).
    """

    def norm(text: str) -> str:
        return " ".join(text.lower().replace("_", " ").split())

    wanted, class_id = norm(name), class_id.strip()
    found = []
    for row in class_db.list_classes(con).iter_rows(named=True):
        words = {norm(row["name"] or "")} | {norm(x) for x in (row["lemmas"] or "").split(",")}
        if row["wnid"] == class_id or (wanted and wanted in words):
            found.append({k: row[k] for k in ("wnid", "name", "origin")})
    return found


def add_class(con: duckdb.DuckDBPyConnection, *, class_id: str, name: str | None = None) -> dict:
    """Add a class to the catalog: an ImageNet-21k wnid, or a 'custom-...' id with a name.

    Raises:
        ValueError: malformed id, unknown 21k wnid, missing name, or the id already exists.
    """
    class_id = class_id.strip()
    if class_db.get_class(con, class_id) is not None:
        raise ValueError(f"The class id {class_id!r} is already in the catalog.")
    if WNID_PATTERN.match(class_id):
        lemmas = load_wordnet_lemmas().get(class_id)
        if lemmas is None:
            raise ValueError(
                f"{class_id!r} is not an ImageNet-21k wnid (timm's imagenet_synset_to_lemma.txt); "
                "use a 'custom-<name>' id for a free-form class."
            )
        row = (class_id, None, name or _display_name(lemmas), lemmas, "imagenet-21k")
    elif CUSTOM_ID_PATTERN.match(class_id):
        if not name or not name.strip():
            raise ValueError(f"A custom class needs a name (id {class_id!r}).")
        row = (class_id, None, name.strip(), name.strip(), "custom")
    else:
        raise ValueError(
            f"Invalid class id {class_id!r}: use a WordNet id like n04552696, or "
            "'custom-' followed by lowercase letters, digits and dashes."
        )
    class_db.insert_classes(con, [row])
    return class_db.get_class(con, class_id)
