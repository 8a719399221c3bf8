"""A calibration set the product builds offline, without any user image: class prototypes.

A new user has no image set to calibrate a synthesized row's bias on. The trained head knows
where its classes lie: for a head trained with cross-entropy, a class's image features sit
near `mu + alpha * (w_c - mean_c w_c)` (the class's row, centred; "neural collapse"; on the
even-index photos the cosine of `f - mu` with the row is about 0.33 and the fitted `alpha`
about 1.9). A *prototype* of class c is that point plus the residual of one real photo
(what the row direction does not explain: background, pose), kept non-negative like the
pooled activations: one pseudo-photo per trained class, 1000 in all. The real photos are
the ones shipped in packages (foolbox's 20 ImageNet photos, scikit-image's sample photos);
their labels are never read: each photo's class is the base model's own top-1 (`mu`,
`alpha` and the residuals come from the photos and the trained rows only).

The prototypes are labelled by the class they were built from, so the fitted calibration
(`zscore-fit`, `extension.synthesis.calibration`) chooses its z on them like on a user's
set, and a row's own class's prototype is excluded from its calibration as usual.
Measured in `benchmarks/bench_loo.py` ('builtin' presets).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from extension.models import BaseClassifier, Head
from extension.synthesis.calibration import CalibrationImages

# scikit-image's colour and grey sample photos of real scenes (no synthetic patterns).
SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "camera.png",
    "coins.png",
    "moon.png",
    "brick.png",
    "grass.png",
    "gravel.png",
)
BUILTIN_SOURCES = ("foolbox", "skimage")


def list_shipped_photos(sources: tuple[str, ...] = BUILTIN_SOURCES) -> list[Path]:
    """Paths of the photos shipped in installed packages (missing packages are skipped).

    Args:
        sources: 'foolbox' (20 ImageNet val photos), 'skimage' (`SKIMAGE_PHOTOS`).
    """
    unknown = sorted(set(sources) - set(BUILTIN_SOURCES))
    if unknown:
        raise ValueError(f"Unknown photo sources {unknown}; valid: {BUILTIN_SOURCES}")
    paths: list[Path] = []
    for name in sources:
        package = importlib.util.find_spec("foolbox" if name == "foolbox" else "skimage")
        if package is None or not package.submodule_search_locations:
            continue
        folder = Path(package.submodule_search_locations[0]) / "data"
        if name == "foolbox":
            paths += sorted(folder.glob("imagenet_*.jpg"))
        else:
            paths += [folder / f for f in SKIMAGE_PHOTOS if (folder / f).exists()]
    return paths


def compute_prototype_images(
    head: Head, class_wnids: tuple[str, ...], photo_features: torch.Tensor, *, source: str
) -> CalibrationImages:
    """One prototype feature vector per trained class (see the module docstring).

    Args:
        head: the full trained head, rows (C, D) and biases (C,).
        class_wnids: (C,) the head's classes.
        photo_features: (P, D) pre-logits features of real photos, P >= 1 (unlabelled).
        source: provenance text.

    Returns:
        C calibration images (features (C, D) >= 0), filed under their class's wnid.

    Raises:
        ValueError: no photo, or shapes that disagree.
    """
    if photo_features.ndim != 2 or photo_features.shape[0] < 1:
        raise ValueError("The prototypes need the features of at least one real photo.")
    if photo_features.shape[1] != head.weight.shape[1] or len(class_wnids) != head.weight.shape[0]:
        raise ValueError("Photo features, head rows and class list disagree in shape.")
    weight, photos = head.weight.double(), photo_features.double()
    centred = weight - weight.mean(0)  # (C, D)
    mu = photos.mean(0)  # (D,)
    predicted = (photos @ weight.T + head.bias.double()).argmax(1)  # the model's own classes
    direction = centred[predicted]  # (P, D)
    offset = photos - mu
    alpha = float(((offset * direction).sum(1) / (direction * direction).sum(1)).median())
    residual = offset - alpha * direction  # (P, D)
    pick = torch.arange(weight.shape[0]) % photos.shape[0]
    features = (mu + alpha * centred + residual[pick]).clamp_min(0.0).float()
    logits = features @ head.weight.float().T + head.bias.float()
    return CalibrationImages(features, logits, tuple(class_wnids), source, head)


def load_builtin_calibration(
    base: BaseClassifier,
    *,
    sources: tuple[str, ...] = BUILTIN_SOURCES,
    cache_dir: Path,
    device: str = "cpu",
) -> CalibrationImages:
    """The built-in calibration set of a base model: its class prototypes from the photos
    shipped in packages (embedded once with the base model, cached in the feature store).

    Raises:
        ValueError: none of the packages with photos is installed, or no photo is readable.
    """
    from extension.images.store import load_features

    paths = list_shipped_photos(sources)
    if not paths:
        raise ValueError(
            "The built-in calibration needs photos shipped in packages (foolbox or "
            "scikit-image): install them (make run), or choose an image set."
        )
    features, kept, _ = load_features(
        base.model, paths, model_key=base.model_key, cache_dir=cache_dir, device=device
    )
    if not len(kept):
        raise ValueError("None of the shipped photos could be read.")
    names = sorted({"foolbox" if "foolbox" in str(paths[i]) else "scikit-image" for i in kept})
    source = (
        f"built-in: {len(base.class_wnids)} class prototypes from the trained rows and "
        f"{len(kept)} photos shipped with {' and '.join(names)}"
    )
    return compute_prototype_images(
        base.head, tuple(base.class_wnids), features.float(), source=source
    )
