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


def write_folder_zip(folder: str | Path, target: str | Path | None = None) -> Path:
    """Zip a folder's files (names relative to it) into `target` (default `<folder>.zip`),
    written to a temporary name and renamed, so a reader never sees half a zip. Returns it."""
    import zipfile

    folder = Path(folder)
    target = Path(target) if target is not None else folder.with_name(folder.name + ".zip")
    tmp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(path, arcname=str(path.relative_to(folder)))
    tmp.replace(target)
    return target
