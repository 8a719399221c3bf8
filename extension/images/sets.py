"""Image sets for evaluation: register a folder or a list file, embed it resumably.

A set is a labelled list of image files: a folder laid out `<root>/<wnid>/*.jpg` (any depth
below the class folder), or a list file with one `path<TAB>wnid` (or `path,wnid`) per line,
relative paths resolved against the list file's folder. Registration stores every file's
sha256 and size; embedding (a background job) runs the base model over the files the feature
store (`extension.images.store`) does not hold yet. A file shared by two sets, embedded by
leave-one-out first, or re-registered unchanged is never embedded twice; a file whose bytes
changed since registration is reported, never stored under its old hash. Unreadable images
are reported per item and skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl
import torch

from contract.devices import resolve_device
from contract.files import hash_file
from contract.progress import Progress, no_progress
from contract.specs import check_choice
from curation.catalog import CUSTOM_ID_PATTERN, WNID_PATTERN
from db import image_sets as set_db
from db.storage import get_storage
from extension.images.files import IMAGE_SUFFIXES, MAX_IMAGE_BYTES, list_image_folder
from extension.images.store import embed_files, embed_files_on_ray, open_feature_store
from extension.models import compute_model_key, load_base_model
from extension.specs import EmbedSpec

SET_KINDS = ("folder", "list", "upload")
MAX_LIST_BYTES = 64 << 20  # ImageNet's 1.28 M training images listed: about 60 MB
SET_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}\Z")  # full, ASCII


def check_set_name(name: str) -> str:
    """The stripped name when it is a plain name (letters, digits, ' ._-'; not a path).

    Raises:
        ValueError: empty, too long, or path-like ('..', '/x', 'a/b').
    """
    name = (name or "").strip()
    if not SET_NAME_PATTERN.match(name) or name.endswith("."):
        raise ValueError(
            f"Image-set name {name!r} is not a plain name: use 1 to 64 letters, digits, spaces, "
            "'.', '_' or '-', starting with a letter or digit (no '/', no '..')."
        )
    return name


def load_image_list(source: Path) -> list[tuple[str, Path]]:
    """(wnid, absolute path) pairs of a folder (`wnid/*.jpg`) or a list file, sorted.

    Raises:
        FileNotFoundError: the source, or a file named in the list, does not exist.
        ValueError: no images, or a malformed list line (named by line number).
    """
    source = Path(source)
    if source.is_dir():
        return list_image_folder(source)
    if not source.is_file():
        raise FileNotFoundError(
            f"Image source {source} does not exist (expected a folder or a list file)."
        )
    pairs = _list_file(source)
    if not pairs:
        raise ValueError(f"No images listed in {source} (one 'path<TAB>wnid' per line).")
    return sorted(pairs)


def _list_file(path: Path) -> list[tuple[str, Path]]:
    """The pairs of a list file, read line by line after a size check.

    Errors never quote the file's content (the path a curator types may name any server
    file, such as a key or a `.env`): a line is named by its number, and an image path is
    named only on a line that has the list shape (an image suffix and a class id).
    """
    size = path.stat().st_size
    if size > MAX_LIST_BYTES:
        raise ValueError(
            f"{path}: {size / 2**20:.0f} MiB is larger than a list file may be "
            f"({MAX_LIST_BYTES >> 20} MiB)."
        )
    pairs = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise ValueError(f"{path}, line {number}: not UTF-8 text.") from None
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            pairs.append(_list_line(path, number, line))
    return pairs


def _list_line(path: Path, number: int, line: str) -> tuple[str, Path]:
    parts = [p.strip() for p in (line.split("\t") if "\t" in line else line.rsplit(",", 1))]
    if (
        len(parts) != 2
        or not parts[0].lower().endswith(IMAGE_SUFFIXES)
        or not (WNID_PATTERN.match(parts[1]) or CUSTOM_ID_PATTERN.match(parts[1]))
    ):
        raise ValueError(
            f"{path}, line {number}: not a list line (expected 'path<TAB>wnid' or "
            f"'path,wnid', an image path ending in {', '.join(IMAGE_SUFFIXES)} and a class id)."
        )
    file = Path(parts[0]) if Path(parts[0]).is_absolute() else path.parent / parts[0]
    if not file.is_file():
        raise FileNotFoundError(f"{path}, line {number}: image file {file} does not exist.")
    return parts[1], file.resolve()


def register_image_set(
    con, source: Path, *, name: str | None = None, kind: str = "folder", created_by: str = "cli"
) -> int:
    """Register a folder or list file as a named set (idempotent when unchanged).

    Returns:
        The set id; the existing id when a set of this name holds exactly these files.

    Raises:
        ValueError: bad kind or name, or the name is taken by a set with other files.
    """
    check_choice("kind", kind, SET_KINDS)
    source = Path(source).resolve()
    name = check_set_name(name or source.name)
    items = compute_item_frame(load_image_list(source))
    existing = set_db.get_image_set_id(con, name)
    if existing is not None:
        stored = set_db.list_image_set_items(con, existing).select(items.columns)
        if stored.equals(items):
            return existing
        raise ValueError(
            f"An image set named {name!r} already exists with other files; choose another name."
        )
    return set_db.insert_image_set(
        con, name=name, kind=kind, root=str(source), items=items, created_by=created_by
    )


def compute_item_frame(pairs: list[tuple[str, Path]]) -> pl.DataFrame:
    """(item_idx, path, wnid, sha256, size_bytes) of the files, in the given order.

    Raises:
        ValueError: a file larger than `MAX_IMAGE_BYTES` (named), or one without an image
            suffix in a list file.
    """
    rows = []
    for index, (wnid, path) in enumerate(pairs):
        size = Path(path).stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise ValueError(f"{path}: {size:,} bytes is more than {MAX_IMAGE_BYTES:,}")
        if Path(path).suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"{path}: not an image file name ({', '.join(IMAGE_SUFFIXES)})")
        rows.append((index, str(path), wnid, hash_file(path), size))
    return pl.DataFrame(rows, schema=set_db.ITEM_SCHEMA, orient="row")


def run_embed_image_set(
    con: duckdb.DuckDBPyConnection,
    spec: EmbedSpec,
    progress: Progress | None = None,
    *,
    cache_dir: Path | None = None,
    model: torch.nn.Module | None = None,
) -> dict:
    """Embed every image of a set that the feature store lacks (job entry point).

    Args:
        model: the loaded base model of `spec.model` (loaded here when None).

    Returns:
        {'model_key', 'n_items', 'n_embedded', 'n_new', 'n_failed', 'engine'}, and with
        engine 'ray' the pool and its timings (`embed_files_on_ray`).
    """
    cache_dir = get_storage(con, cache_dir=cache_dir).cache
    progress = progress or no_progress
    if set_db.get_image_set(con, spec.image_set_id) is None:
        raise ValueError(f"Image set {spec.image_set_id} does not exist.")
    model = model if model is not None else load_base_model(spec.model, cache_dir=cache_dir)
    model_key = compute_model_key(model)
    items = set_db.list_image_set_items(con, spec.image_set_id)
    store = open_feature_store(model_key, cache_dir=cache_dir)
    report = _embed_with_engine(model, items, store, spec, progress)
    errors = {int(items["item_idx"][i]): message for i, message in report.errors.items()}
    known = store.known()
    n_embedded = sum(
        1 for i, digest in enumerate(items["sha256"]) if i not in report.errors and digest in known
    )
    set_db.update_embedding_state(
        con, spec.image_set_id, model_key, n_embedded=n_embedded, errors=errors, complete=True
    )
    progress(1.0, f"{n_embedded:,} of {items.height:,} images embedded")
    return {
        "model_key": model_key,
        "n_items": items.height,
        "n_embedded": n_embedded,
        "n_new": report.n_new,
        "n_failed": len(errors),
        **report.engine,
    }


def _embed_with_engine(model, items: pl.DataFrame, store, spec: EmbedSpec, progress):
    """`embed_files` in this process, or `embed_files_on_ray` (an engine on Ray)."""
    paths, expected = [Path(p) for p in items["path"]], items["sha256"].to_list()
    sizes = {"batch_size": spec.batch_size, "chunk_size": spec.chunk_size}
    if spec.engine.on_ray:
        return embed_files_on_ray(
            model,
            paths,
            store,
            expected=expected,
            **sizes,
            device=spec.device,
            address=spec.engine.address,
            pool=spec.engine.pool,
            progress=progress,
        )
    device = resolve_device(spec.device)
    return embed_files(
        model, paths, store, expected=expected, **sizes, device=device, progress=progress
    )


def load_set_features(
    con, set_id: int, model_key: str, *, cache_dir: Path | None = None
) -> tuple[torch.Tensor, pl.DataFrame]:
    """Features of a set's embedded items.

    Returns:
        (features (N, D) float32, items (N rows: item_idx, path, wnid, sha256)); unreadable,
        changed and not-yet-embedded items left out.

    Raises:
        ValueError: the set has no embedded items under this model (embed it first).
    """
    cache_dir = get_storage(con, cache_dir=cache_dir).cache
    items = set_db.list_image_set_items(con, set_id)
    failed = set_db.list_image_errors(con, set_id)["item_idx"].to_list()
    store = open_feature_store(model_key, cache_dir=cache_dir)
    items = items.filter(
        pl.col("sha256").is_in(list(store.known())) & ~pl.col("item_idx").is_in(failed)
    )
    if items.is_empty():
        raise ValueError(
            f"Image set {set_id} has no images embedded with model {model_key}; embed it first."
        )
    return store.get(items["sha256"].to_list()), items
