"""Reading tensor files (weights, checkpoints, train states) with one clear line per bad file.

Two formats are read, and nothing that could run code: safetensors (`load_safetensors`, or
`reading_weights` around a loader such as `safetensors.torch.load_model`) and PyTorch files
through `torch.load(weights_only=True)` (`load_tensor_pickle`: tensors and plain values only).
Every failure becomes a `WeightsFileError` naming the file and what is wrong (a folder, empty,
truncated or corrupt, a pickle given where safetensors is expected, objects that are not
tensors). Messages never suggest `weights_only=False`: a file refused here is never unpickled.
torch and safetensors are imported only when a file is read.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# First bytes of PyTorch's own formats: a zip archive (torch.save) or a bare pickle.
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"
# safetensors: an 8-byte little-endian header length, then the JSON header ('{').
_SAFETENSORS_MIN_BYTES = 9
# The part of torch's "Weights only load failed" text that says what was refused.
_REFUSED_DETAIL = re.compile(r"unsupported (?:global|operand)[^\n]*", re.IGNORECASE)


class WeightsFileError(ValueError):
    """A weights, checkpoint or train-state file that cannot be used (one line, file named)."""


def check_weights_path(path: str | Path, *, what: str = "weights file") -> Path:
    """The path when it names a non-empty file.

    Raises:
        WeightsFileError: missing, a folder, or empty.
    """
    path = Path(path)
    if path.is_dir():
        raise WeightsFileError(f"{what} {path} is a folder; give the file itself.")
    if not path.is_file():
        raise WeightsFileError(f"{what} {path} does not exist.")
    if path.stat().st_size == 0:
        raise WeightsFileError(f"{what} {path} is empty (0 bytes).")
    return path


def load_safetensors(path: str | Path, *, what: str = "weights file") -> dict[str, Any]:
    """Every tensor of a safetensors file, on the CPU.

    Raises:
        WeightsFileError: see `reading_weights`.
    """
    from safetensors.torch import load_file

    with reading_weights(path, what=what) as checked:
        return load_file(str(checked))


@contextmanager
def reading_weights(path: str | Path, *, what: str = "weights file") -> Iterator[Path]:
    """The checked path of a safetensors file; errors of the load inside become one line.

    Raises:
        WeightsFileError: missing, a folder, empty, a PyTorch pickle instead of safetensors, or
            truncated/corrupt (the parser's reason is quoted).
    """
    from safetensors import SafetensorError

    checked = check_weights_path(path, what=what)
    _refuse_pickle_as_safetensors(checked, what=what)
    try:
        yield checked
    except (SafetensorError, OSError) as exc:
        raise WeightsFileError(
            f"{what} {checked} is not a readable safetensors file (truncated or corrupt: "
            f"{_first_line(exc)})."
        ) from exc


def load_tensor_pickle(path: str | Path, *, what: str = "PyTorch file") -> Any:
    """A `torch.save` file of tensors and plain values, read with `weights_only=True`.

    Raises:
        WeightsFileError: missing, a folder, empty, truncated or corrupt, or holding objects
            other than tensors and plain values (refused, never executed).
    """
    import torch

    checked = check_weights_path(path, what=what)
    try:
        return torch.load(checked, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsFileError(
            f"{what} {checked} was refused: it holds Python objects other than tensors and "
            f"plain values ({_refused_detail(exc)}), which could run code when loaded; the "
            "workbench never loads them."
        ) from exc
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise WeightsFileError(
            f"{what} {checked} is not a readable PyTorch file (truncated or corrupt: "
            f"{_first_line(exc)[:160]})."
        ) from exc


def _refuse_pickle_as_safetensors(path: Path, *, what: str) -> None:
    with path.open("rb") as handle:
        head = handle.read(_SAFETENSORS_MIN_BYTES)
    header_bytes = int.from_bytes(head[:8], "little")
    looks_like_safetensors = head[8:9] == b"{" and header_bytes <= path.stat().st_size - 8
    if not looks_like_safetensors and (
        head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_MAGIC)
    ):
        raise WeightsFileError(
            f"{what} {path} is a PyTorch pickle (.pt/.pth), not a safetensors file; the "
            "workbench reads weights only as safetensors, since a pickle can run code. Convert "
            "it where you trust its source: safetensors.torch.save_file(state_dict, "
            "'model.safetensors')."
        )
    if len(head) < _SAFETENSORS_MIN_BYTES:
        raise WeightsFileError(
            f"{what} {path} is not a readable safetensors file (truncated: {len(head)} bytes)."
        )


def _refused_detail(exc: BaseException) -> str:
    """What torch's weights-only unpickler refused, without its advice to load it anyway."""
    match = _REFUSED_DETAIL.search(str(exc))
    detail = match.group(0).strip().rstrip(".") if match else "unsupported content"
    # The names come from the file: keep them printable (no terminal control characters).
    return "".join(c if c.isprintable() else "?" for c in detail)[:160]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__
