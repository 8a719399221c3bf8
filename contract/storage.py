"""Where the product writes files: one storage root per database, and folders it owns.

Every file the workbench writes (caches, relevance runs, added-class heads, exports, uploads,
photo checks, temporary files of imports) lives under one root derived from the database
path, the same for the app and the CLI, never the process's working directory:

    <db folder>/<db stem>-files/      (or $WORKBENCH_STORAGE / --storage)
        cache/                        models/, text-features/ (every text vector), image features
        relevance/                    training run folders
        heads/                        added-class heads (per database: two databases in one
                                      folder never share or delete each other's)
        exports/                      one new folder per export (model, curated set)
        uploads/                      uploaded image sets; uploads/photo-checks/
        sample-photos/                the packaged sample photos, as a folder set
        tmp/                          temporary files of imports (caption uploads)

Writes outside the product's own folders follow one rule (`new_output_folder`): the product
writes into a temporary folder it created in this run and renames it to a target that does not
exist yet (or is an empty folder); it never deletes or overwrites anything it did not create.
Pure path logic; `db.storage.get_storage(con)` derives the root from a connection.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STORAGE_ENV_VAR = "WORKBENCH_STORAGE"
# Before the storage root, caches went to `.cache/` in the working directory (the checkout, for
# `data/workbench.duckdb`), with only these folders in it.
LEGACY_CACHE_NAME = ".cache"
LEGACY_CACHE_FOLDERS = frozenset({"models", "text-features", "text-embeddings", "embeddings"})
# The one text-vector cache (`encoders.cache`) inside the cache folder. Older versions also
# kept class-text embeddings in text-embeddings/, which is no longer read (rebuilt here once).
TEXT_FEATURES_FOLDER = "text-features"


class OutputFolderError(ValueError):
    """A target folder the product may not write: it exists with content, or is not a folder."""


@dataclass(frozen=True)
class Storage:
    """The folders of one database's storage root (absolute paths).

    Attributes:
        root: the storage root.
        cache_override: a cache folder given explicitly (`--cache-dir`), else None.
    """

    root: Path
    cache_override: Path | None = None

    @property
    def cache(self) -> Path:
        """Rebuildable caches: models/, text-features/ (the one text-vector cache: relevance
        features, caption search, class-text embeddings), image features."""
        return self.cache_override or self.root / "cache"

    @property
    def text_features(self) -> Path:
        return self.cache / TEXT_FEATURES_FOLDER

    @property
    def relevance(self) -> Path:
        return self.root / "relevance"

    @property
    def heads(self) -> Path:
        return self.root / "heads"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def imports(self) -> Path:
        """Files a server admin puts here for the Captions page to import (no path typed)."""
        return self.root / "imports"

    @property
    def photo_checks(self) -> Path:
        return self.uploads / "photo-checks"

    @property
    def sample_photos(self) -> Path:
        return self.root / "sample-photos"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def with_cache(self, cache_dir: str | Path | None) -> Storage:
        """This storage with the cache part overridden ('' or None keeps the default)."""
        if not cache_dir:
            return self
        return Storage(self.root, Path(cache_dir).expanduser().absolute())


def compute_storage_root(db_path: str | Path | None, *, override: str | Path | None = None) -> Path:
    """The storage root of a database: `override`, else $WORKBENCH_STORAGE, else
    `<db folder>/<db stem>-files`; an in-memory database (None or ':memory:') gets a folder
    of its own under the system's temporary folder (per process).
    """
    chosen = override or os.environ.get(STORAGE_ENV_VAR)
    if chosen:
        return Path(chosen).expanduser().absolute()
    if db_path is None or str(db_path) in ("", ":memory:"):
        return Path(tempfile.gettempdir()) / f"workbench-memory-{os.getpid()}-files"
    db_path = Path(db_path).expanduser().absolute()
    return db_path.parent / f"{db_path.stem}-files"


def compute_storage(db_path: str | Path | None, *, override: str | Path | None = None) -> Storage:
    """The `Storage` of a database path (see `compute_storage_root`)."""
    return Storage(compute_storage_root(db_path, override=override))


def resolve_cache_dir(cache_dir: str | Path | None) -> Path:
    """A cache folder: the one given, else the cache of a database-less storage (see
    `compute_storage_root`; library calls without a database, such as tests). Callers that have
    a connection pass `db.storage.get_storage(con).cache`."""
    return Path(cache_dir) if cache_dir else compute_storage(None).cache


def find_legacy_cache(db_path: str | Path) -> Path | None:
    """The cache older versions kept for a database in the checkout layout: `.cache/` beside
    the database's `data/` folder (holding at least one of the workbench's cache folders)."""
    db_folder = Path(db_path).expanduser().absolute().parent
    legacy = db_folder.parent / LEGACY_CACHE_NAME
    if db_folder.name != "data" or legacy.is_symlink() or not legacy.is_dir():
        return None
    return legacy if any((legacy / name).is_dir() for name in LEGACY_CACHE_FOLDERS) else None


def adopt_legacy_cache(storage: Storage, db_path: str | Path) -> str | None:
    """Move the workbench's folders of the legacy cache (`find_legacy_cache`: models/,
    text-features/, text-embeddings/, embeddings/) into the storage root's cache/, each only
    while the root has none of that name and no cache folder was given; anything else in the
    old `.cache/` stays. Caches hold no paths a database records, so nothing else changes; on
    another filesystem a folder is left in place (rebuilt on demand).

    Returns:
        A one-line note of what was moved, or None.
    """
    legacy = find_legacy_cache(db_path)
    if legacy is None or storage.cache_override is not None:
        return None
    moved = []
    for name in sorted(LEGACY_CACHE_FOLDERS):
        source, target = legacy / name, storage.cache / name
        if not source.is_dir() or source.is_symlink() or os.path.lexists(target):
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(source, target)
        except OSError:
            continue
        moved.append(name)
    if not moved:
        return None
    return f"Moved {', '.join(moved)} from {legacy} into the storage root's cache: {storage.cache}"


def remove_leftovers(storage: Storage) -> list[Path]:
    """Remove what a killed run left in the product's own folders: everything in tmp/ (the
    copies of uploaded caption files), and the temporary `.*.partial` folders and `.*.tmp`
    files in exports/. Call only while no job runs (the app's start, once interrupted jobs
    are marked failed). Returns what was removed."""
    removed = []
    candidates = list(storage.tmp.iterdir()) if storage.tmp.is_dir() else []
    if storage.exports.is_dir():
        candidates += [
            p
            for p in storage.exports.iterdir()
            if p.name.startswith(".") and p.name.endswith((".partial", ".tmp"))
        ]
    for path in candidates:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def compute_new_folder_name(parent: Path, stem: str) -> Path:
    """`parent/<stem>-<UTC yyyymmdd-HHMMSS>[-n]`: a folder name not taken yet under `parent`."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    candidate = parent / f"{stem}-{stamp}"
    n = 1
    while os.path.lexists(candidate):
        n += 1
        candidate = parent / f"{stem}-{stamp}-{n}"
    return candidate


def check_output_folder(target: str | Path) -> Path:
    """The absolute target of a new output folder, or a one-line refusal.

    Allowed: a path that does not exist yet, or an existing empty folder. Refused: an existing
    file or link, a folder with anything in it (`..` and `.` included), a path whose parent
    is a file.

    Raises:
        OutputFolderError: the target may not be written (nothing is changed).
    """
    raw = Path(target).expanduser()
    if raw.name in ("", ".", ".."):
        raise OutputFolderError(
            f"The output folder {str(target)!r} names an existing folder by '.' or '..'; give a "
            "new folder name (nothing was written)."
        )
    path = raw.absolute()
    if path.is_symlink() or (os.path.lexists(path) and not path.is_dir()):
        raise OutputFolderError(
            f"The output path {path} exists and is not a folder; give a new folder name "
            "(nothing was written)."
        )
    if path.is_dir() and any(path.iterdir()):
        raise OutputFolderError(
            f"The output folder {path} exists and is not empty; give a new folder name "
            "(nothing was written, nothing was deleted)."
        )
    return path


@contextmanager
def new_output_folder(target: str | Path) -> Iterator[Path]:
    """Write a folder safely: yield a fresh temporary folder beside `target`, then rename it
    to `target` once the body finished.

    The temporary folder is created by this call (a unique `.<name>.*.partial` name), so the
    only thing ever deleted is that folder, on failure. A target that appears meanwhile with
    content makes the rename fail (the temporary folder is removed, the target untouched).

    Raises:
        OutputFolderError: the target may not be written (see `check_output_folder`).
    """
    path = check_output_folder(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    except OSError as exc:
        raise OutputFolderError(
            f"The output folder {path} cannot be created: {exc.strerror or exc}."
        ) from exc
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp makes it private; an export is meant to be shared
        try:
            os.rename(tmp, path)  # replaces only an empty folder (POSIX), never content
        except OSError as exc:
            raise OutputFolderError(
                f"The output folder {path} appeared meanwhile ({exc.strerror or exc}); "
                "nothing there was changed."
            ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def list_folder_files(folder: str | Path) -> list[str]:
    """The files under a folder, as sorted relative POSIX paths (links not followed)."""
    folder = Path(folder)
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink()
    )
