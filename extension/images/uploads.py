"""Photos that come from the browser (uploads) or from a package (the sample photos).

An upload becomes a folder set `<uploads>/<set name>/<class id>/<file>`. Every check runs
before anything is written: the set name and class id must be plain names (never paths),
the set name must be free, and every file must be a readable image within the size limits.
The files are then written into a temporary folder beside the target and moved into place
in one rename, which never replaces an existing folder, so a refused upload never replaces a
file, and a registered set never points at bytes other than the ones it was registered with.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import tempfile
from pathlib import Path

import duckdb

from curation.catalog import CUSTOM_ID_PATTERN, WNID_PATTERN
from db import image_sets as set_db
from extension.images.files import (
    IMAGE_SUFFIXES,
    MAX_IMAGE_BYTES,
    ImageFileError,
    open_image,
)
from extension.images.sets import check_set_name, register_image_set

MAX_UPLOAD_FILES = 500
SAMPLE_PHOTOS_NOTE = (
    "20 ImageNet validation photos (19 classes) shipped in the foolbox package's data folder; "
    "research use under the ImageNet terms."
)


def check_class_id(class_id: str) -> str:
    """The stripped id when it is a wnid (n01440764) or a custom id (custom-warship).

    Raises:
        ValueError: anything else (paths, spaces, upper case, '..').
    """
    class_id = (class_id or "").strip()
    if not (WNID_PATTERN.match(class_id) or CUSTOM_ID_PATTERN.match(class_id)):
        raise ValueError(
            f"Class id {class_id!r} must be a WordNet id such as n04552348 or a custom id such "
            "as custom-warship (lowercase letters, digits and dashes)."
        )
    return class_id


MAX_STEM_CHARS = 100


def compute_upload_names(names: list[str]) -> list[str]:
    """Safe, unique base names for uploaded files ('../a b.JPG' -> 'a_b.jpg').

    Raises:
        ValueError: a name without an image suffix (the message lists them).
    """
    bad = [n for n in names if Path(n).suffix.lower() not in IMAGE_SUFFIXES]
    if bad:
        raise ValueError(
            f"Not image files ({', '.join(IMAGE_SUFFIXES)}): {bad[:5]}; nothing was saved."
        )
    out, seen = [], set()
    for i, name in enumerate(names):
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name.replace("\\", "/")).stem).strip("._")
        stem = stem[:MAX_STEM_CHARS]  # a file name has at most 255 bytes on disk
        candidate = f"{stem or 'image'}{Path(name).suffix.lower()}"
        if candidate in seen:
            candidate = f"{stem or 'image'}-{i}{Path(name).suffix.lower()}"
        seen.add(candidate)
        out.append(candidate)
    return out


def save_uploaded_set(
    con: duckdb.DuckDBPyConnection,
    files: list[tuple[str, bytes]],
    *,
    uploads_dir: Path,
    set_name: str,
    class_id: str,
    created_by: str,
) -> int:
    """Check, write and register uploaded photos of one class as a new set. Returns its id.

    Args:
        files: (file name as sent by the browser, bytes) pairs.
        uploads_dir: the folder that holds every uploaded set.

    Raises:
        ValueError: no files, too many, a bad name or id, a taken set name (or a folder of that
            name already on disk), a file that is not a readable image or too large (named).
            Nothing is written then.
    """
    set_name, class_id = check_set_name(set_name), check_class_id(class_id)
    if not files or len(files) > MAX_UPLOAD_FILES:
        raise ValueError(f"Upload 1 to {MAX_UPLOAD_FILES} photos (got {len(files)}).")
    if set_db.get_image_set_id(con, set_name) is not None:
        raise ValueError(f"An image set named {set_name!r} already exists; choose another name.")
    names = compute_upload_names([name for name, _ in files])  # refuses non-image names
    for sent, data in files:
        if len(data) > MAX_IMAGE_BYTES:
            raise ValueError(f"{sent}: {len(data):,} bytes is more than {MAX_IMAGE_BYTES:,}")
        try:
            open_image(data, where=sent)
        except ImageFileError as exc:
            raise ValueError(f"{exc}; nothing was saved.") from exc
    target = _write_folder(Path(uploads_dir), set_name, class_id, names, [d for _, d in files])
    try:
        return register_image_set(con, target, name=set_name, kind="upload", created_by=created_by)
    except Exception:
        shutil.rmtree(target, ignore_errors=True)
        raise


def _write_folder(uploads: Path, set_name: str, class_id: str, names, blobs) -> Path:
    """Write into a temporary folder, then rename it to `uploads/<set_name>`.

    An existing folder of that name is never replaced (another set, even one registered
    under another name or by a list file, may use its files): the rename refuses it, which
    also settles two uploads of the same new name at the same moment.

    Raises:
        ValueError: `uploads/<set_name>` already exists on disk (nothing is changed there).
    """
    uploads.mkdir(parents=True, exist_ok=True)
    target = uploads / set_name
    if target.exists() or target.is_symlink():
        raise _folder_taken(target)
    staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=uploads))
    try:
        (staging / class_id).mkdir()
        for name, data in zip(names, blobs, strict=True):
            (staging / class_id / name).write_bytes(data)
        try:
            staging.rename(target)  # fails on a non-empty folder: never replaces files
        except OSError as exc:
            raise _folder_taken(target) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _folder_taken(target: Path) -> ValueError:
    return ValueError(
        f"The folder {target} already exists (an earlier upload, or files of another set); "
        "choose another set name. Nothing was saved."
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
