"""What happens to a class added from text after synthesis: keep it, or try it on photos.

Both run as jobs (`run_keep_class`, `run_photo_check`), so a page never blocks on them. A photo
check embeds each photo once (the feature store is keyed by content) and ranks the base classes
plus every synthesized row of the class; the result (per photo, per row, the top classes with
their probabilities) is the job's result, which the page reads back from the database.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import torch

from contract.devices import resolve_device
from contract.files import hash_bytes
from contract.progress import Progress, no_progress, scale_progress
from db import added_classes as added_db
from db import classes as class_db
from db.storage import get_storage
from extension.images.files import IMAGE_SUFFIXES, MAX_IMAGE_BYTES, open_image
from extension.images.store import load_features
from extension.models import Head, load_base_classifier
from extension.specs import KeepClassSpec, PhotoCheckSpec
from extension.synthesis.new_class import keep_added_class, load_head_file

MAX_CHECK_PHOTOS = 50


def run_keep_class(
    con: duckdb.DuckDBPyConnection, spec: KeepClassSpec, progress: Progress | None = None
) -> dict:
    """Job entry point: keep a draft (catalog entry + the row to export), one transaction.

    Returns:
        `wnid`, `status`, `primary_method`.
    """
    progress = progress or no_progress
    progress(0.1, f"keeping {spec.wnid}")
    kept = keep_added_class(
        con, spec.wnid, primary_method=spec.primary_method or None, actor=spec.actor
    )
    heads = added_db.list_synthesized_heads(con, wnid=spec.wnid).filter("is_primary")
    progress(1.0, f"{spec.wnid} kept")
    return {"wnid": spec.wnid, "status": kept["status"], "primary_method": heads["method_label"][0]}


def save_check_photos(files: list[tuple[str, bytes]], folder: Path) -> list[Path]:
    """Store uploaded photos by content (`<folder>/<sha256>.<ext>`), after checking each one.

    The same photo uploaded twice is one file, and its features are computed once.

    Raises:
        ValueError: no photos, too many, a name without an image suffix, a file too large or
            not a readable image (named). Nothing is written then.
    """
    if not files or len(files) > MAX_CHECK_PHOTOS:
        raise ValueError(f"Give 1 to {MAX_CHECK_PHOTOS} photos (got {len(files)}).")
    for name, data in files:
        if Path(name).suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"{name}: not an image file name ({', '.join(IMAGE_SUFFIXES)})")
        if len(data) > MAX_IMAGE_BYTES:
            raise ValueError(f"{name}: {len(data):,} bytes is more than {MAX_IMAGE_BYTES:,}")
        open_image(data, where=name)  # raises ImageFileError (a ValueError) with the name
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in files:
        path = folder / f"{hash_bytes(data)}{Path(name).suffix.lower()}"
        if not path.exists():
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        paths.append(path)
    return paths


def run_photo_check(
    con: duckdb.DuckDBPyConnection,
    spec: PhotoCheckSpec,
    progress: Progress | None = None,
    *,
    cache_dir: Path | None = None,
) -> dict:
    """Job entry point: the top-k classes of each photo under base rows + the class's rows.

    Returns:
        `wnid`, `methods` (the row labels), `photos`: per photo its `path`, `sha256` and
        `top`: method label -> [[class name, probability], ...] (k entries, best first);
        `new_rank`: method label -> [rank of the new class (1 = first), its probability].

    Raises:
        ValueError: no such added class, or no photo could be read.
    """
    cache_dir = get_storage(con, cache_dir=cache_dir).cache
    progress = progress or no_progress
    if added_db.get_added_class(con, spec.wnid) is None:
        raise ValueError(f"No added class {spec.wnid!r}.")
    heads = added_db.list_synthesized_heads(con, wnid=spec.wnid)
    progress(0.05, "loading the base model")
    base = load_base_classifier(spec.model, cache_dir=cache_dir)
    paths = [Path(p) for p in spec.paths]
    features, kept, report = load_features(
        base.model,
        paths,
        model_key=base.model_key,
        cache_dir=cache_dir,
        device=resolve_device(spec.device),
        progress=scale_progress(progress, 0.1, 0.9),
    )
    if not kept:
        raise ValueError("None of the photos could be read: " + "; ".join(report.errors.values()))
    names = class_db.get_class_names(con, list(base.class_wnids))
    base_names = [names.get(w, w) for w in base.class_wnids]
    photos = [
        {"path": str(paths[i]), "sha256": report.digests[i], "top": {}, "new_rank": {}}
        for i in kept
    ]
    names_with_new = [*base_names, f"NEW: {spec.wnid}"]
    for row in heads.iter_rows(named=True):
        added = load_head_file(Path(row["path"]), sha256=row["sha256"])
        top = compute_top_classes(features, base.head, added, names_with_new, k=spec.k)
        ranks = compute_new_class_ranks(features, base.head, added)
        for photo, ranking, rank in zip(photos, top, ranks, strict=True):
            photo["top"][row["method_label"]] = ranking
            photo["new_rank"][row["method_label"]] = rank
    photos += [
        {"path": str(paths[i]), "error": error, "top": {}} for i, error in report.errors.items()
    ]
    progress(1.0, f"{len(kept)} photo{'' if len(kept) == 1 else 's'} checked")
    return {"wnid": spec.wnid, "methods": heads["method_label"].to_list(), "photos": photos}


def compute_new_class_ranks(features: torch.Tensor, base: Head, added: Head) -> list[list]:
    """Where the added class lands for each image: [rank (1 = top), probability].

    Args:
        features: (N, D) pre-logits features. base: (C, D) rows. added: (1, D) row (index C).
    """
    weight = torch.cat([base.weight, added.weight.float()])
    bias = torch.cat([base.bias, added.bias.float()])
    probs = torch.softmax(features @ weight.T + bias, dim=1)  # (N, C + 1)
    new = probs[:, -1:]
    ranks = 1 + (probs[:, :-1] > new).sum(dim=1)
    return [[int(r), round(float(p), 4)] for r, p in zip(ranks, new[:, 0], strict=True)]


def compute_top_classes(
    features: torch.Tensor, base: Head, added: Head, names: list[str], *, k: int
) -> list[list[list]]:
    """Top-k [name, probability] of each image under the base rows plus one added row.

    Args:
        features: (N, D) pre-logits features. base: (C, D) rows. added: (1, D) row.
        names: (C + 1,) display names in head order.
    """
    weight = torch.cat([base.weight, added.weight.float()])  # (C + 1, D)
    bias = torch.cat([base.bias, added.bias.float()])
    probs = torch.softmax(features @ weight.T + bias, dim=1)
    values, index = torch.topk(probs, min(k, probs.shape[1]), dim=1)
    return [
        [[names[j], round(float(v), 4)] for j, v in zip(row_i, row_v, strict=True)]
        for row_i, row_v in zip(index.tolist(), values.tolist(), strict=True)
    ]
