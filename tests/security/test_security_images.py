"""Finding 7 of issue 10 (the image part): reads are bounded, oversized images are refused.

Registration read each image fully into memory (a 2 GB file gave 2.9 GB RSS). Now a file
over `MAX_IMAGE_BYTES` is refused by its size before a byte is read, registration hashes in
chunks, a file that grew after registration is reported per item, and a decompression bomb
(more than `MAX_IMAGE_PIXELS`) is refused before its pixels are decoded. The files here are
sparse, so a 2 GB file costs no disk; Python's allocations are traced (tracemalloc).
"""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest

from extension.images.files import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    ImageFileError,
    open_image,
    read_image_bytes,
)
from extension.images.sets import register_image_set, run_embed_image_set
from extension.models import load_base_model
from extension.specs import EmbedSpec
from tests.extension_helpers import TINY_MODEL, upload_set

WNID = "n01440764"
BIG = 2 << 30  # 2 GiB, as in the finding
# Far below the size of any refused file: a read of it would show up at once.
MAX_TRACED_BYTES = 8 << 20


def _sparse_file(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(b"\xff\xd8\xff")  # a JPEG start, then nothing
        handle.truncate(size)
    return path


def _small_png(path: Path) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (10, 200, 30)).save(path)
    return path


def _traced_peak(call) -> tuple[object, int]:
    tracemalloc.start()
    try:
        try:
            result = call()
        except Exception as exc:  # the caller checks what was raised
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_registering_a_2gb_file_is_refused_by_its_size_without_reading_it(con, tmp_path):
    root = tmp_path / "set"
    _small_png(root / WNID / "ok.png")
    huge = _sparse_file(root / WNID / "huge.jpg", BIG)
    result, peak = _traced_peak(lambda: register_image_set(con, root, name="big"))
    assert isinstance(result, ValueError), result
    assert str(huge) in str(result) and f"{MAX_IMAGE_BYTES:,}" in str(result)
    assert peak < MAX_TRACED_BYTES, f"registration allocated {peak:,} bytes"


def test_reading_an_image_file_never_reads_past_the_limit(tmp_path):
    huge = _sparse_file(tmp_path / "huge.jpg", MAX_IMAGE_BYTES + 1)
    result, peak = _traced_peak(lambda: read_image_bytes(huge))
    assert isinstance(result, ImageFileError) and "bytes" in str(result)
    assert peak < MAX_TRACED_BYTES, f"read_image_bytes allocated {peak:,} bytes"
    small = _small_png(tmp_path / "small.png")
    assert read_image_bytes(small).data == small.read_bytes()
    with pytest.raises(ImageFileError, match="1 to"):
        read_image_bytes(_sparse_file(tmp_path / "empty.jpg", 0))


def test_a_file_that_grew_after_registration_is_reported_not_read(con, tmp_path):
    root = tmp_path / "set"
    grows = _small_png(root / WNID / "grows.png")
    _small_png(root / WNID / "stays.png")
    set_id = register_image_set(con, root, name="growing")
    _sparse_file(grows, BIG)
    spec = EmbedSpec(set_id, model=TINY_MODEL, device="cpu")
    model = load_base_model(TINY_MODEL)  # loaded outside the traced part
    report, peak = _traced_peak(
        lambda: run_embed_image_set(con, spec, cache_dir=tmp_path / "c", model=model)
    )
    assert not isinstance(report, Exception), report
    assert (report["n_embedded"], report["n_failed"]) == (1, 1)
    assert peak < 64 << 20, f"embedding allocated {peak:,} bytes"


def _png_of_size(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG")  # 1 bit per pixel: small
    return buffer.getvalue()


def test_a_decompression_bomb_is_refused_before_decoding(con, tmp_path):
    side = int(MAX_IMAGE_PIXELS**0.5) + 100
    bomb = _png_of_size(side, side)
    assert len(bomb) < 1 << 20  # a small file that would decode to ~65 M pixels
    with pytest.raises(ImageFileError, match="pixels"):
        open_image(bomb, where="bomb.png")
    with pytest.raises(ValueError, match="pixels"):
        upload_set(con, tmp_path / "uploads", [("bomb.png", bomb)], set_name="bomb")
    assert not (tmp_path / "uploads" / "bomb").exists()


def test_an_oversized_upload_is_refused_before_anything_is_written(con, tmp_path):
    big = b"\xff\xd8\xff" + bytes(MAX_IMAGE_BYTES)
    with pytest.raises(ValueError, match="more than"):
        upload_set(con, tmp_path / "uploads", [("big.jpg", big)], set_name="big")
    assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").iterdir())
