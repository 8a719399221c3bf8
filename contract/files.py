"""Content hashes of files and bytes (sha256, hex), the keys of every cache and provenance row."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 1 << 20


def hash_bytes(data: bytes) -> str:
    """Hex sha256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


def hash_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks.

    Raises:
        FileNotFoundError: no such file. IsADirectoryError: a folder was given.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def hash_tensors(named_tensors) -> str:
    """Hex sha256 of tensors: each (name, tensor) in name order as name, dtype, shape, bytes.

    The key of exact weights (a model's `state_dict().items()`): the same tensors give the same
    hash whether they came from a hub, a converted file or a file written in another key order.
    """
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(named_tensors, key=lambda item: item[0]):
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{data.dtype}|{tuple(data.shape)}|".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


def compute_files_zip(folder: str | Path, names: list[str]) -> bytes:
    """The named files of a folder (relative paths, e.g. what an export wrote) as zip bytes.

    Only the listed files go in, so a folder that also holds other files never leaks them.

    Raises:
        ValueError: a name that leaves the folder (absolute, `..`) or is not a plain file.
    """
    import io
    import zipfile

    folder = Path(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            path = _file_in(folder, name)
            archive.write(path, arcname=Path(name).as_posix())
    return buffer.getvalue()


def write_files_zip(folder: str | Path, names: list[str], target: str | Path) -> Path:
    """Write `compute_files_zip(folder, names)` to `target`, which must not exist yet: the
    bytes go to a temporary file first and are linked to the name, so a reader never sees
    half a zip and an existing file is never replaced. Returns `target`.

    Raises:
        FileExistsError: `target` exists (nothing is changed).
    """
    import os
    import tempfile

    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(compute_files_zip(folder, names))
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise FileExistsError(f"{target} exists already; nothing was written") from None
    finally:
        os.unlink(tmp)
    return target


def _file_in(folder: Path, name: str) -> Path:
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"{name!r} is not a file name inside {folder}")
    path = folder / relative
    if path.is_symlink() or not path.is_file():
        raise ValueError(f"{path} is not a plain file")
    return path
