"""Image sets for evaluation: register a folder or a list file, embed it resumably.

A set is a labelled list of image files: a folder laid out `<root>/<wnid>/*.jpg` (any depth
below the class folder), or a list file with one `path<TAB>wnid` (or `path,wnid`) per line,
relative paths resolved against the list file's folder. Registration stores every file's
sha256; embedding (a background job) runs the base model over the files that are not yet
cached and writes one safetensors shard per chunk under
`<cache>/embeddings/<model_key>/`, keyed by file hash. An interrupted job therefore loses at
most one chunk and a re-run continues where it stopped; a file shared by two sets, or
re-registered unchanged, is never embedded twice. Unreadable images are reported and skipped.

Built on `extension.embeddings` (transform and pre-logits forward) and `extension.models`
(base model and model key) of the synthesis layer.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import torch

from db import image_sets as set_db
from extension.embeddings import IMAGE_SUFFIXES, compute_batch_features, make_eval_transform
from extension.eval_specs import EmbedSpec
from extension.models import DEFAULT_CACHE_DIR, compute_model_key, load_base_model, resolve_device

Progress = Callable[[float, str], None]
SET_KINDS = ("folder", "list", "upload")


def load_image_list(source: Path) -> list[tuple[str, Path]]:
    """(wnid, absolute path) pairs of a folder (`wnid/*.jpg`) or a list file, sorted.

    Raises:
        FileNotFoundError: the source, or a file named in the list, does not exist.
        ValueError: no images, or a malformed list line (named by line number).
    """
    source = Path(source)
    if source.is_dir():
        pairs = _list_folder(source)
    elif source.is_file():
        pairs = _list_file(source)
    else:
        raise FileNotFoundError(
            f"Image source {source} does not exist (expected a folder or a list file)."
        )
    if not pairs:
        raise ValueError(
            f"No images found in {source} (folder layout <wnid>/*.jpg, suffixes {IMAGE_SUFFIXES})."
        )
    return sorted(pairs)


def _list_folder(root: Path) -> list[tuple[str, Path]]:
    pairs = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = (
            p for p in class_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        pairs += [(class_dir.name, f.resolve()) for f in files]
    return pairs


def _list_file(path: Path) -> list[tuple[str, Path]]:
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in (line.split("\t") if "\t" in line else line.rsplit(",", 1))]
        if len(parts) != 2 or not all(parts):
            raise ValueError(
                f"{path}, line {number}: expected 'path<TAB>wnid' or 'path,wnid', got {line!r}"
            )
        file = Path(parts[0]) if Path(parts[0]).is_absolute() else path.parent / parts[0]
        if not file.is_file():
            raise FileNotFoundError(f"{path}, line {number}: image file {file} does not exist.")
        pairs.append((parts[1], file.resolve()))
    return pairs


def register_image_set(
    con, source: Path, *, name: str | None = None, kind: str = "folder", created_by: str = "cli"
) -> int:
    """Register a folder or list file as a named set (idempotent when unchanged).

    Returns:
        The set id; the existing id when a set of this name holds exactly these files.

    Raises:
        ValueError: bad kind, or the name is taken by a set with other files.
    """
    if kind not in SET_KINDS:
        raise ValueError(f"kind must be one of {SET_KINDS}, got {kind!r}")
    source = Path(source).resolve()
    name = name or source.name
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
    """(item_idx, path, wnid, sha256, size_bytes) of the files, in the given order."""
    rows = []
    for index, (wnid, path) in enumerate(pairs):
        data = Path(path).read_bytes()
        rows.append((index, str(path), wnid, hashlib.sha256(data).hexdigest(), len(data)))
    return pl.DataFrame(rows, schema=set_db.ITEM_SCHEMA, orient="row")


def run_embed_image_set(
    con, spec: EmbedSpec, progress: Progress | None = None, *, cache_dir: Path = DEFAULT_CACHE_DIR
) -> dict:
    """Embed every not-yet-cached image of a set (job entry point).

    Returns:
        {'model_key', 'n_items', 'n_embedded', 'n_new', 'n_failed'}.
    """
    report = progress or (lambda fraction, message="": None)
    if set_db.get_image_set(con, spec.image_set_id) is None:
        raise ValueError(f"Image set {spec.image_set_id} does not exist.")
    model = load_base_model(spec.model, cache_dir=cache_dir)
    model_key = compute_model_key(spec.model, cache_dir=cache_dir)
    items = set_db.list_image_set_items(con, spec.image_set_id)
    store = FeatureStore(Path(cache_dir), model_key)
    todo = items.filter(~pl.col("sha256").is_in(list(store.known()))).unique(
        "sha256", keep="first", maintain_order=True
    )
    device = resolve_device(spec.device)
    model = model.to(device)
    transform = make_eval_transform(model)
    n_failed = 0
    for start in range(0, todo.height, spec.chunk_size):
        chunk = todo.slice(start, spec.chunk_size)
        digests, features, errors = _embed_chunk(
            model, transform, chunk, batch_size=spec.batch_size, device=device
        )
        store.write_shard(digests, features)
        n_failed += len(errors)
        set_db.update_embedding_state(
            con,
            spec.image_set_id,
            model_key,
            n_embedded=_count_cached(items, store),
            errors=errors,
            complete=False,
        )
        done = min(start + spec.chunk_size, todo.height)
        report(
            done / max(todo.height, 1),
            f"embedded {done} of {todo.height} new images ({n_failed} unreadable)",
        )
    n_embedded = _count_cached(items, store)
    set_db.update_embedding_state(
        con, spec.image_set_id, model_key, n_embedded=n_embedded, errors={}, complete=True
    )
    report(1.0, f"{n_embedded} of {items.height} images embedded")
    return {
        "model_key": model_key,
        "n_items": items.height,
        "n_embedded": n_embedded,
        "n_new": todo.height - n_failed,
        "n_failed": n_failed,
    }


def _count_cached(items: pl.DataFrame, store: FeatureStore) -> int:
    return int(items["sha256"].is_in(list(store.known())).sum())


def _embed_chunk(model, transform, chunk: pl.DataFrame, *, batch_size: int, device: torch.device):
    tensors, digests, errors = [], [], {}
    for item_idx, path, digest in chunk.select("item_idx", "path", "sha256").iter_rows():
        try:
            tensors.append(transform(_open_rgb(Path(path))))
            digests.append(digest)
        except Exception as exc:  # PIL raises many types for corrupt files
            errors[int(item_idx)] = f"{type(exc).__name__}: {exc}"
    out = [
        compute_batch_features(model, torch.stack(tensors[i : i + batch_size]).to(device)).cpu()
        for i in range(0, len(tensors), batch_size)
    ]
    return digests, (torch.cat(out) if out else None), errors


def _open_rgb(path: Path):
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image.convert("RGB")


class FeatureStore:
    """Pre-logits features of one model keyed by file sha256, in safetensors shards."""

    def __init__(self, cache_dir: Path, model_key: str):
        self.folder = Path(cache_dir) / "embeddings" / model_key
        self._rows: dict[str, torch.Tensor] | None = None

    def known(self) -> set[str]:
        return set(self._load())

    def _load(self) -> dict[str, torch.Tensor]:
        if self._rows is None:
            from safetensors.torch import load_file

            self._rows = {}
            for shard in sorted(self.folder.glob("shard-*.safetensors")):
                data = load_file(str(shard))
                hexes = [bytes(r.tolist()).hex() for r in data["sha256"]]
                self._rows.update(zip(hexes, data["features"], strict=True))
        return self._rows

    def write_shard(self, digests: list[str], features: torch.Tensor | None) -> None:
        """Append a shard atomically (temporary file, then rename)."""
        if not digests:
            return
        from safetensors.torch import save_file

        self.folder.mkdir(parents=True, exist_ok=True)
        keys = torch.tensor(np.array([list(bytes.fromhex(d)) for d in digests], dtype=np.uint8))
        name = hashlib.sha256("".join(digests).encode()).hexdigest()[:16]
        tmp = self.folder / f"tmp-{name}"
        save_file({"sha256": keys, "features": features.float().contiguous()}, str(tmp))
        tmp.replace(self.folder / f"shard-{name}.safetensors")
        self._load().update(zip(digests, features.float(), strict=True))

    def get(self, digests: list[str]) -> torch.Tensor:
        """(N, D) features of these digests (all must be known)."""
        rows = self._load()
        return torch.stack([rows[d] for d in digests])


def load_set_features(
    con, set_id: int, model_key: str, *, cache_dir: Path = DEFAULT_CACHE_DIR
) -> tuple[torch.Tensor, pl.DataFrame]:
    """Features of a set's embedded items.

    Returns:
        (features (N, D) float32, items (N rows: item_idx, path, wnid, sha256)), unreadable and
        not-yet-embedded items left out.

    Raises:
        ValueError: the set has no embedded items under this model (embed it first).
    """
    items = set_db.list_image_set_items(con, set_id)
    store = FeatureStore(Path(cache_dir), model_key)
    known = store.known()
    items = items.filter(pl.col("sha256").is_in(list(known)))
    if items.is_empty():
        raise ValueError(
            f"Image set {set_id} has no images embedded with model {model_key}; embed it first."
        )
    return store.get(items["sha256"].to_list()), items


def save_uploaded_images(files: list[tuple[str, bytes]], folder: Path, *, class_id: str) -> Path:
    """Write uploaded images to `folder/<class_id>/` (a folder set's layout) and return `folder`.

    Args:
        files: (file name, bytes) pairs; names are reduced to their base name.

    Raises:
        ValueError: no files, an empty or path-like class id, or a file without an image suffix.
    """
    class_id = class_id.strip()
    if not files:
        raise ValueError("No files were uploaded.")
    if not class_id or "/" in class_id or "\\" in class_id or class_id.startswith("."):
        raise ValueError(
            f"Class id {class_id!r} must be a plain name such as n04552348 or custom-warship."
        )
    bad = [name for name, _ in files if Path(name).suffix.lower() not in IMAGE_SUFFIXES]
    if bad:
        raise ValueError(
            f"Uploaded files {bad[:5]} are not images ({', '.join(IMAGE_SUFFIXES)}); nothing was "
            "saved."
        )
    target = Path(folder) / class_id
    target.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        (target / Path(name).name).write_bytes(data)
    return Path(folder)


SAMPLE_PHOTOS_NOTE = (
    "20 ImageNet validation photos (19 classes) shipped in the foolbox package's data folder; "
    "research use under the ImageNet terms."
)


def write_sample_photo_folder(target: Path) -> Path:
    """Copy foolbox's 20 labelled ImageNet photos into `target/<wnid>/` (idempotent).

    The offline stand-in for a user's own image folder: enough to try the dashboards.

    Raises:
        FileNotFoundError: the foolbox package (installed by `make run` / `make test`) is absent.
    """
    from curation.catalog import load_imagenet1k_wnids

    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("The foolbox package is not installed: no sample photos.")
    source = Path(spec.submodule_search_locations[0]) / "data"
    wnids = load_imagenet1k_wnids()
    for path in sorted(source.glob("imagenet_*.jpg")):
        folder = Path(target) / wnids[int(path.stem.split("_")[-1])]
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / path.name).exists():
            shutil.copy(path, folder / path.name)
    return Path(target)
