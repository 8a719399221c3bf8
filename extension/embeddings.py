"""Embed image folders (one folder per wnid) with the base model, cached by content.

Pre-logits features come from `forward_features` + `forward_head(pre_logits=True)`; logits
of any head are then one matmul (`features @ W.T + b`), so a cache serves the trained head,
synthesized rows and the 1000-way test alike. The cache is one safetensors file per model
key under `.cache/embeddings/`, holding every image embedded so far keyed by the sha256 of
its bytes: a re-run embeds only new files, a changed file is embedded again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from extension.models import DEFAULT_CACHE_DIR

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
Progress = Callable[[float, str], None]
_SAVE_EVERY = 1024


@dataclass(frozen=True)
class ImageSet:
    """Embedded images.

    Attributes:
        features: (N, D) pre-logits features, float32.
        wnids: (N,) label of each image (its folder name).
        paths: (N,) file paths.
    """

    features: torch.Tensor
    wnids: tuple[str, ...]
    paths: tuple[str, ...]


def list_image_files(images_dir: Path, *, max_per_class: int = 0) -> list[tuple[str, Path]]:
    """(wnid, path) for every image under `images_dir/<wnid>/` (recursive), sorted.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: it holds no class folders with images.
    """
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise FileNotFoundError(f"Image folder {images_dir} does not exist.")
    found = []
    for class_dir in sorted(p for p in images_dir.iterdir() if p.is_dir()):
        files = sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if max_per_class:
            files = files[:max_per_class]
        found += [(class_dir.name, f) for f in files]
    if not found:
        raise ValueError(f"No images found under {images_dir}/<wnid>/ (suffixes {IMAGE_SUFFIXES}).")
    return found


def load_image_set(
    model: torch.nn.Module,
    model_key: str,
    images_dir: Path,
    *,
    max_per_class: int = 0,
    batch_size: int = 64,
    device: torch.device | None = None,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    progress: Progress | None = None,
) -> ImageSet:
    """Features of every image in a wnid-folder tree, computing only what is not cached."""
    files = list_image_files(images_dir, max_per_class=max_per_class)
    digests = [hashlib.sha256(path.read_bytes()).digest() for _, path in files]
    cache_path = Path(cache_dir) / "embeddings" / f"{model_key}.safetensors"
    cached = _read_cache(cache_path)
    missing = [i for i, d in enumerate(digests) if d not in cached]
    # Embed in chunks and save after each, so an interrupted run resumes where it stopped.
    for start in range(0, len(missing), _SAVE_EVERY):
        chunk = missing[start : start + _SAVE_EVERY]
        new = compute_image_features(
            model,
            [files[i][1] for i in chunk],
            batch_size=batch_size,
            device=device,
            progress=_offset_progress(progress, start, len(chunk), len(missing)),
        )
        cached.update({digests[i]: row for i, row in zip(chunk, new, strict=True)})
        _write_cache(cache_path, cached)
    features = torch.stack([cached[d] for d in digests]) if digests else torch.zeros(0, 0)
    return ImageSet(features, tuple(w for w, _ in files), tuple(str(p) for _, p in files))


def compute_image_features(
    model: torch.nn.Module,
    paths: list[Path],
    *,
    batch_size: int = 64,
    device: torch.device | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """(N, D) pre-logits features of image files, with the model's own eval transform."""
    transform = make_eval_transform(model)
    device = device or torch.device("cpu")
    model = model.to(device).eval()
    out = []
    for start in range(0, len(paths), batch_size):
        batch = torch.stack([transform(_open_rgb(p)) for p in paths[start : start + batch_size]])
        out.append(compute_batch_features(model, batch.to(device)).cpu())
        if progress:
            done = min(start + batch_size, len(paths))
            progress(done / len(paths), f"embedded {done} of {len(paths)} images")
    return torch.cat(out) if out else torch.zeros(0, model.num_features)


@torch.no_grad()
def compute_batch_features(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """(B, D) pre-logits features of a preprocessed batch (B, 3, H, W)."""
    return model.forward_head(model.forward_features(batch), pre_logits=True).float()


def make_eval_transform(model: torch.nn.Module):
    """timm's eval transform for the model's pretrained config (resize, crop, normalize)."""
    from timm.data import create_transform, resolve_data_config

    return create_transform(**resolve_data_config({}, model=model))


def _offset_progress(
    progress: Progress | None, offset: int, size: int, total: int
) -> Progress | None:
    if progress is None:
        return None
    return lambda fraction, _message: progress(
        (offset + fraction * size) / total,
        f"embedded {offset + round(fraction * size)} of {total} images",
    )


def _open_rgb(path: Path):
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except OSError as exc:
        raise ValueError(f"Cannot read image {path}: {exc}") from exc


def _read_cache(path: Path) -> dict[bytes, torch.Tensor]:
    if not path.exists():
        return {}
    from safetensors.torch import load_file

    data = load_file(str(path))
    keys = [bytes(row.tolist()) for row in data["sha256"]]
    return dict(zip(keys, data["features"], strict=True))


def _write_cache(path: Path, cached: dict[bytes, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(cached)
    digests = torch.tensor([list(k) for k in keys], dtype=torch.uint8).reshape(len(keys), 32)
    tmp = path.with_suffix(".tmp")
    save_file(
        {"sha256": digests, "features": torch.stack([cached[k] for k in keys]).contiguous()},
        str(tmp),
    )
    tmp.replace(path)
