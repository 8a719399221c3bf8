"""Shared test data for the relevance tests: a few classes with descriptions and synthetic,
learnable captions (each class has its own words), plus a tiny encoder built once per module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from curation.catalog import seed_imagenet1k

CLASS_TEXT = {
    "n01440764": (
        "tench",
        "The tench is a freshwater fish of the carp family. It lives in slow rivers and ponds. "
        "Anglers catch it with bread and worms.",
        ["green", "slimy", "pond", "angler", "carp", "river"],
    ),
    "n01443537": (
        "goldfish",
        "The goldfish is a small orange fish. It is kept in bowls and garden ponds. "
        "It was bred in China.",
        ["orange", "bowl", "aquarium", "pet", "golden", "tank"],
    ),
    "n01484850": (
        "great white shark",
        "The great white shark is a large ocean predator. It hunts seals near the coast.",
        ["jaws", "ocean", "teeth", "seal", "predator", "dive"],
    ),
    "n01491361": (
        "tiger shark",
        "The tiger shark has dark stripes. It eats almost anything. It lives in warm seas.",
        ["stripes", "tropical", "reef", "warm", "striped", "hawaii"],
    ),
}
NO_DESCRIPTION_WNID = "n01494475"  # hammerhead: captions but no description


def insert_caption(con, wnid: str, filename: str, title: str, description="", tags=()) -> int:
    rows = con.execute(
        "INSERT INTO captions (source, filename, wnid, title, description, tags) "
        "VALUES ('test', ?, ?, ?, ?, ?) RETURNING caption_id",
        [filename, wnid, title, description, list(tags)],
    ).fetchall()
    return int(rows[0][0])


def insert_description(con, wnid: str, text: str) -> None:
    con.execute(
        "INSERT INTO active_descriptions (wnid, source, text, revision, updated_by, updated_at) "
        "VALUES (?, 'test', ?, 1, 'test', current_timestamp)",
        [wnid, text],
    )


def fill_relevance_db(con, *, per_class: int = 12, seed: int = 0) -> dict:
    """Catalog + descriptions + learnable captions; one short caption and one class without a
    description. Returns counts for assertions."""
    import random

    rng = random.Random(seed)
    seed_imagenet1k(con)
    con.execute(
        "INSERT INTO sources (source, kind, title, license, attribution) VALUES "
        "('test', 'caption', 'Synthetic test captions', 'CC0-1.0', 'tests')"
    )
    for wnid, (name, text, words) in CLASS_TEXT.items():
        insert_description(con, wnid, text)
        for i in range(per_class):
            picked = rng.sample(words, 3)
            insert_caption(
                con,
                wnid,
                f"{wnid}_{i}.JPEG",
                f"my {name} photo",
                " ".join(picked),
                tags=[rng.choice(words)],
            )
    short_id = insert_caption(con, "n01440764", "n01440764_short.JPEG", "tench")
    for i in range(3):
        insert_caption(
            con, NO_DESCRIPTION_WNID, f"{NO_DESCRIPTION_WNID}_{i}.JPEG", "hammer head shark"
        )
    return {"per_class": per_class, "short_caption_id": short_id}


@pytest.fixture(scope="module", autouse=True)
def torch_single_thread():
    """One torch thread while these tests run: tiny models on a shared 2-core machine are
    several times faster without thread oversubscription."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    from curation.relevance.tiny import build_tiny_encoder

    texts = [text + " " + " ".join(words) + " my photo" for _, text, words in CLASS_TEXT.values()]
    return build_tiny_encoder(
        tmp_path_factory.mktemp("tiny-encoder"),
        texts * 20,
        vocab_size=400,
        hidden_size=32,
        max_length=64,
    )


@pytest.fixture(scope="module")
def trained_db(tmp_path_factory, tiny_encoder_dir) -> tuple[Path, int]:
    """A closed database file with test data and a 3-epoch tiny fine-tuned model. Returns
    (path, the best model version). Copy the file before writing to it."""
    from curation.relevance.train import run_train_relevance
    from db.connect import connect

    root = tmp_path_factory.mktemp("trained")
    con = connect(root / "trained.duckdb")
    try:
        fill_relevance_db(con, per_class=8)
        spec = finetune_spec(
            root / "run",
            tiny_encoder_dir,
            epochs=3,
            learning_rate=3e-3,
            head_learning_rate=3e-2,
            keep_checkpoints=2,
        )
        result = run_train_relevance(con, spec)
    finally:
        con.close()
    return root / "trained.duckdb", int(result["best_model_version"])


def copy_db(source: Path, target: Path) -> Path:
    import shutil

    shutil.copyfile(source, target)
    return target


def finetune_spec(checkpoint_dir: Path, encoder_dir: Path, **overrides):
    """A quick fine-tune TrainSpec for the tiny encoder: 2 epochs, no checkpoint pruning;
    `overrides` are TrainSpec fields (as JSON values)."""
    from curation.relevance.specs import TrainSpec

    options = dict(
        checkpoint_dir=str(checkpoint_dir),
        mode="finetune",
        encoder=str(encoder_dir),
        epochs=2,
        batch_size=8,
        max_length=64,
        learning_rate=1e-3,
        head_learning_rate=1e-2,
        keep_checkpoints=0,
        seed=0,
    )
    return TrainSpec.from_dict({**options, **overrides})


def frozen_spec(root: Path, encoder_dir: Path, name: str = "frozen", **head):
    """A quick frozen-mode TrainSpec for the tiny encoder (features cached under root)."""
    from curation.relevance.specs import FrozenHeadSpec, TrainSpec

    options = dict(epochs=15, learning_rate=3e-2, batch_size=16, folds=3, cache_dir=str(root))
    return TrainSpec(
        checkpoint_dir=str(root / name),
        mode="frozen",
        encoder=str(encoder_dir),
        max_length=64,
        head=FrozenHeadSpec(**{**options, **head}),
    )


@pytest.fixture(scope="module")
def frozen_scored_db(tmp_path_factory, tiny_encoder_dir) -> tuple[Path, int]:
    """A closed database file with test data, a frozen-mode tiny model and its scores.
    Returns (path, model version). Copy the file before writing to it."""
    from curation.relevance.score import run_score_relevance
    from curation.relevance.specs import ScoringSpec
    from curation.relevance.train import run_train_relevance
    from db.connect import connect

    root = tmp_path_factory.mktemp("frozen")
    con = connect(root / "frozen.duckdb")
    try:
        fill_relevance_db(con, per_class=8)
        result = run_train_relevance(con, frozen_spec(root, tiny_encoder_dir))
        version = int(result["best_model_version"])
        run_score_relevance(con, ScoringSpec(model_version=version))
    finally:
        con.close()
    return root / "frozen.duckdb", version


def make_image_root(root: Path, filenames: dict[str, str]) -> Path:
    """An ImageNet-style folder made now from a packaged photo (scikit-image's cat):
    train/<wnid>/<file> for each file name -> wnid."""
    from PIL import Image
    from skimage import data

    photo = Image.fromarray(data.chelsea())
    for filename, wnid in filenames.items():
        path = root / "train" / wnid / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        photo.save(path, format="JPEG")
    return root
