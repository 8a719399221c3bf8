"""Real photos, a tiny deterministic timm model and class texts for the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curation.catalog import load_imagenet1k_wnids, load_wordnet_glosses
from extension.specs import ModelSpec

FOOLBOX_DATA = (
    Path(__import__("importlib.util").util.find_spec("foolbox").submodule_search_locations[0])
    / "data"
)
# skimage photo -> the ImageNet-1k class it shows.
SKIMAGE_PHOTOS = {
    "chelsea": "n02123045",
    "coffee": "n07920052",
    "rocket": "n04008634",
    "astronaut": "n04266014",
}


def write_photo_folder(root: Path, *, variants: int = 3) -> Path:
    """`root/<wnid>/*.jpg`: foolbox's 20 ImageNet photos and 4 scikit-image photos, each with
    `variants` crops/flips (different files), plus one corrupt file."""
    import skimage.data
    from PIL import Image

    photos = []
    for path in sorted(FOOLBOX_DATA.glob("imagenet_*.jpg")):
        index = int(path.stem.split("_")[-1])
        photos.append((load_imagenet1k_wnids()[index], path.stem, Image.open(path).convert("RGB")))
    for name, wnid in SKIMAGE_PHOTOS.items():
        photos.append((wnid, name, Image.fromarray(getattr(skimage.data, name)()).convert("RGB")))
    for wnid, stem, image in photos:
        image.thumbnail((200, 200))  # small files keep the tests fast; the model resizes anyway
        folder = root / wnid
        folder.mkdir(parents=True, exist_ok=True)
        for v in range(variants):
            w, h = image.size
            crop = image.crop((v * w // 20, v * h // 20, w - v * w // 30, h - v * h // 25))
            if v % 2:
                crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            crop.save(folder / f"{stem}_{v}.jpg", quality=90)
    (root / photos[0][0] / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    return root


def write_tiny_model(path: Path, *, seed: int = 0) -> ModelSpec:
    """A deterministic `test_efficientnet` (pretrained=False) saved as safetensors."""
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = timm.create_model("test_efficientnet", pretrained=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return ModelSpec(name="test_efficientnet", pretrained=False, weights_path=str(path))


def add_class_texts(con, wnids: list[str]) -> None:
    """Active descriptions (WordNet glosses) for these classes, so synthesis has donors."""
    from curation.descriptions import update_active_description

    glosses = load_wordnet_glosses()
    for wnid in wnids:
        update_active_description(con, wnid, text=glosses[wnid], actor="test")


def donor_wnids(extra: list[str], *, n: int = 40) -> list[str]:
    """The first n 1k classes plus `extra` (unique, sorted)."""
    rng = np.random.default_rng(0)
    wnids = list(load_imagenet1k_wnids())
    return sorted(set(rng.choice(wnids, n, replace=False).tolist()) | set(extra))
