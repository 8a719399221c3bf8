"""Where a caption's image is on disk: the image root setting and the ImageNet layouts.

The image root is one folder set once for the workbench (`update_image_root`, kept in the
`settings` table). A caption's file name (e.g. `n01440764_10026.JPEG` or
`ILSVRC2012_val_00000001.JPEG`) is looked up under it in the ImageNet layouts, first match
wins:

    <root>/train/<wnid>/<file>    ImageNet train
    <root>/val/<wnid>/<file>      val sorted into class folders
    <root>/val/<file>             val as shipped (flat)
    <root>/<wnid>/<file>          a folder of class folders
    <root>/<file>                 a flat folder of files

Only plain file names are looked up (no '/', no '..'), so a caption record cannot point
outside the root. Reading and decoding the image (with size limits) is the caller's job
(`extension.images.files`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb

from curation import access
from db import settings as settings_db

IMAGE_ROOT_KEY = "image_root"


def get_image_root(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The image root folder, or None when none is set."""
    row = settings_db.get_setting(con, IMAGE_ROOT_KEY)
    return Path(row["value"]) if row else None


def update_image_root(
    con: duckdb.DuckDBPyConnection, root: str | Path | None, *, actor: str
) -> Path | None:
    """Set (None or '': clear) the image root.

    Raises:
        ValueError: empty actor. FileNotFoundError: the folder does not exist.
    """
    if not isinstance(actor, str) or not actor.strip():
        raise ValueError("Say who sets the image root (actor): it cannot be empty.")
    access.require(con, actor, "change_settings")
    if root is None or not str(root).strip():
        settings_db.update_setting(con, IMAGE_ROOT_KEY, None, actor=actor.strip())
        return None
    folder = Path(str(root).strip()).expanduser().resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"Image root {folder} is not a folder.")
    settings_db.update_setting(con, IMAGE_ROOT_KEY, str(folder), actor=actor.strip())
    return folder


def compute_image_candidates(root: Path, filename: str, wnid: str) -> list[Path]:
    """The paths a caption's image may have under `root`, in lookup order (none for a file
    name that is not a plain name)."""
    name = str(filename or "")
    if not name or name != Path(name).name or name in (".", ".."):
        return []
    root = Path(root)
    candidates = [root / "train" / wnid / name, root / "val" / wnid / name, root / "val" / name]
    candidates += [root / wnid / name, root / name]
    return candidates if wnid and "/" not in wnid and ".." not in wnid else candidates[2::2]


def find_caption_image(root: Path | None, filename: str, wnid: str) -> Path | None:
    """The caption's image file under `root`, or None when the root is unset or lacks it."""
    if root is None:
        return None
    return next((p for p in compute_image_candidates(root, filename, wnid) if p.is_file()), None)


NO_ROOT = "no image folder is set (Review relevance, Images tab)"
BAD_NAME = "the file name is not a plain file name"
NOT_FOUND = "no file of that name under the image folder (in any ImageNet layout)"


def compute_missing_reason(root: Path | None, filename: str, wnid: str) -> str | None:
    """Why a caption has no image (NO_ROOT, BAD_NAME, NOT_FOUND), or None when it has one."""
    if root is None:
        return NO_ROOT
    candidates = compute_image_candidates(root, filename, wnid)
    if not candidates:
        return BAD_NAME
    return None if any(p.is_file() for p in candidates) else NOT_FOUND


def count_missing_images(
    root: Path | None, rows: Iterable[tuple[str, str]]
) -> tuple[list[str | None], dict[str, int]]:
    """The missing reason of each (filename, wnid) row, and how many rows have each reason."""
    reasons = [compute_missing_reason(root, filename, wnid) for filename, wnid in rows]
    counts: dict[str, int] = {}
    for reason in reasons:
        if reason is not None:
            counts[reason] = counts.get(reason, 0) + 1
    return reasons, counts
