"""Shared fixtures data for the extension tests: a few classes with texts, a tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from extension.specs import ModelSpec

TINY_MODEL = ModelSpec(name="test_efficientnet", pretrained=False)

# wnid -> (captions (title, description, tags), active description): 1k classes.
TEXTS = {
    "n01440764": (
        [("tench in a lake", "green freshwater fish caught by an angler", ["fish", "lake"])],
        "A freshwater fish of the carp family with olive green scales.",
    ),
    "n01443537": (
        [("goldfish bowl", "small orange fish swimming in a glass bowl", ["pet", "aquarium"])],
        "A small orange freshwater fish kept in aquariums.",
    ),
    "n02123045": (
        [("tabby cat on sofa", "striped domestic cat sleeping", ["cat", "pet"])],
        "A domestic cat with a striped coat and whiskers.",
    ),
    "n02123159": (
        [("tiger cat", "striped cat with stripes like a tiger", ["cat"])],
        "A domestic cat with dark stripes on a grey coat.",
    ),
    "n02124075": (
        [("egyptian cat", "slender cat with large ears", ["cat", "egypt"])],
        "A domestic cat breed with a slender body and large ears.",
    ),
    "n04552348": (
        [("warplane flying", "military jet aircraft in the sky", ["plane", "air"])],
        "A military aircraft designed for combat in the air.",
    ),
    "n02690373": (
        [("airliner at gate", "passenger jet aircraft at an airport", ["plane", "airport"])],
        "A large passenger aircraft flown by an airline.",
    ),
    "n03792782": (
        [("mountain bike", "bicycle on a muddy trail", ["bike", "trail"])],
        "A bicycle with wide tyres for riding off road on mountain trails.",
    ),
}


def insert_texts(con) -> None:
    """Insert the TEXTS captions and active descriptions with plain SQL (a test fixture)."""
    for i, (wnid, (captions, description)) in enumerate(TEXTS.items()):
        for j, (title, desc, tags) in enumerate(captions):
            con.execute(
                "INSERT INTO captions (source, filename, wnid, title, description, tags) "
                "VALUES ('test', ?, ?, ?, ?, ?)",
                [f"{wnid}_{i}_{j}.JPEG", wnid, title, desc, tags],
            )
        con.execute(
            "INSERT INTO active_descriptions "
            "(wnid, source, text, revision, updated_by, updated_at) "
            "VALUES (?, 'manual', ?, 1, 'test', current_timestamp)",
            [wnid, description],
        )


def write_images(root: Path, wnids: list[str], per_class: int = 3, size: int = 40) -> Path:
    """Random RGB PNGs in `root/<wnid>/` (each class a different mean colour)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, wnid in enumerate(wnids):
        folder = root / wnid
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = np.array([(37 * k) % 256, (91 * k) % 256, (53 * k) % 256])
            pixels = np.clip(base + rng.normal(0, 30, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{wnid}_{i}.png")
    return root


def load_tiny_base_and_donors(con):
    """(BaseClassifier, Donors) of the tiny model over the stored texts (statistics built)."""
    from extension.models import load_base_classifier
    from extension.synthesis.donors import load_donors
    from extension.text.store import ensure_text_stats

    ensure_text_stats(con)
    base = load_base_classifier(TINY_MODEL)
    return base, load_donors(con, base.head, list(base.class_wnids))


def upload_set(
    con, uploads_dir: Path, files, *, set_name: str = "photos", class_id: str = "n01440764"
) -> int:
    """`save_uploaded_set` of `files` ((file name, bytes) pairs) by the curator 'tester',
    filed under `class_id` (default the tench, n01440764); returns the new set's id."""
    from extension.images.uploads import save_uploaded_set

    return save_uploaded_set(
        con,
        files,
        uploads_dir=uploads_dir,
        set_name=set_name,
        class_id=class_id,
        created_by="tester",
    )
