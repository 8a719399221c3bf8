"""Extract Tiny-ImageNet-200 (32 px) validation images into `<cache>/tiny-imagenet-32/val/<wnid>/`.

The archive sits in ../shared/data/images/ (ImageNet terms: tests and benchmarks only, never
committed). Only the val split (50 images per class, 10,000 in all) is extracted: embedding
the 100K train images at 224 px is too slow on a CPU.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ARCHIVE = REPO_ROOT.parent / "shared" / "data" / "images" / "tiny-imagenet-32.tar.gz"


def load_tiny_imagenet_val(
    cache_dir: Path = REPO_ROOT / ".cache", *, archive: Path = ARCHIVE
) -> Path:
    """The folder `<cache>/tiny-imagenet-32/val` with one sub-folder per wnid (extracted once)."""
    target = Path(cache_dir) / "tiny-imagenet-32" / "val"
    marker = target / ".complete"
    if marker.exists():
        return target
    if not archive.exists():
        raise FileNotFoundError(f"Tiny-ImageNet archive {archive} is missing.")
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        notes = next(n for n in members if n.endswith("val/val_annotations.txt"))
        labels = dict(
            line.split("\t")[:2]
            for line in tar.extractfile(members[notes]).read().decode().splitlines()
            if "\t" in line
        )
        for name, member in members.items():
            base = Path(name).name
            if "/val/images/" not in f"/{name}" or base not in labels:
                continue
            out = target / labels[base] / base
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(tar.extractfile(member).read())
    marker.write_text("ok\n")
    return target
