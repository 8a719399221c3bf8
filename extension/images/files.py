"""Image files: the one folder lister and the one image opener, with size limits.

A labelled folder is laid out `<root>/<wnid>/...` (any depth below the class folder); class
folders starting with '.' are skipped. An image is read as bytes once (at most
`MAX_IMAGE_BYTES`), and those same bytes are hashed and decoded, so a cache keyed by the hash
always holds the features of the bytes that were actually decoded. Decoding refuses more than
`MAX_IMAGE_PIXELS` pixels (decompression bombs).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from contract.files import hash_bytes

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_IMAGE_BYTES = 64 << 20  # a full-size ImageNet JPEG is 0.1 to 10 MB
MAX_IMAGE_PIXELS = 64_000_000  # 8000 x 8000; PIL's own bomb check is at 89 M


class ImageFileError(ValueError):
    """An image file that cannot be used (missing, too large, not an image, corrupt)."""


@dataclass(frozen=True)
class ImageBytes:
    """One image file as read: its bytes and their sha256 (hex)."""

    path: Path
    data: bytes
    sha256: str


def list_image_folder(root: Path, *, max_per_class: int = 0) -> list[tuple[str, Path]]:
    """(wnid, absolute path) of every image under `root/<wnid>/`, sorted by wnid then path.

    Args:
        max_per_class: keep only the first N files of each class folder (0 = all).

    Raises:
        FileNotFoundError: the folder does not exist. ValueError: it holds no images.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder {root} does not exist.")
    found = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(
            p.resolve()
            for p in class_dir.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        found += [(class_dir.name, f) for f in (files[:max_per_class] if max_per_class else files)]
    if not found:
        raise ValueError(
            f"No images found under {root}/<wnid>/ (suffixes {', '.join(IMAGE_SUFFIXES)})."
        )
    return found


def read_image_bytes(path: Path, *, max_bytes: int = MAX_IMAGE_BYTES) -> ImageBytes:
    """The file's bytes and their hash, after checking its size (never reads a huge file).

    Raises:
        ImageFileError: missing, not a file, empty, or larger than `max_bytes`.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageFileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not path.is_file():
        raise ImageFileError(f"{path}: not a file")
    if size == 0 or size > max_bytes:
        raise ImageFileError(f"{path}: {size:,} bytes; an image must have 1 to {max_bytes:,} bytes")
    with path.open("rb") as handle:
        # At most one byte more than stat() said (read(n) allocates n bytes up front).
        data = handle.read(size + 1)
    if len(data) != size:
        raise ImageFileError(f"{path}: the file changed while it was being read; try again")
    return ImageBytes(path, data, hash_bytes(data))


def open_image(data: bytes, *, where: str, max_pixels: int = MAX_IMAGE_PIXELS):
    """Decode image bytes into an RGB PIL image.

    Args:
        where: the file name or label used in error messages.

    Raises:
        ImageFileError: not a readable image, or more than `max_pixels` pixels.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageFileError(
                    f"{where}: {width} x {height} pixels is more than {max_pixels:,} pixels"
                )
            image.load()
            return image.convert("RGB")
    except ImageFileError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ImageFileError(
            f"{where}: not a readable image ({type(exc).__name__}: {exc})"
        ) from exc
