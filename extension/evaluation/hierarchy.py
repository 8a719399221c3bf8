"""Group classes by WordNet ancestors (dog, bird, vehicle, food, ...) and average metrics per group.

Ancestors come from the K-LITE knowledge file (`path_wn`: the class's hypernym path, in
1k index order; `curation/data/` or else `../shared/data/class_text/`). It leaves the path
empty for about half the classes; those fall back to ImageNet-X's metaclass of the class
(a WordNet ancestor too, from the `imagenet-x` package, annotations CC BY-NC 4.0). A class
goes to the first group below that any of its ancestors names; an added class goes to
'added'.
"""

from __future__ import annotations

import csv
import json
from functools import cache
from importlib.util import find_spec
from pathlib import Path

import polars as pl

REPO_ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE_PATHS = (
    REPO_ROOT / "curation" / "data" / "klite_imagenet1k_knowledge.json",
    REPO_ROOT.parent / "shared" / "data" / "class_text" / "klite_imagenet1k_knowledge.json",
)
_MAMMALS = {
    "mammal",
    "primate",
    "ungulate",
    "rodent",
    "bear",
    "marsupial",
    "musteline_mammal",
    "fox",
    "wolf",
    "aquatic_mammal",
    "leporid",
    "wild_dog",
    "elephant",
    "edentate",
    "viverrine",
    "monotreme",
    "giant_panda",
    "lesser_panda",
    "hyena",
    "tusker",
    "placental",
}
# ImageNet-X metaclasses of small artifacts whose K-LITE path is often missing.
_SMALL_ARTIFACTS = {
    "box",
    "bag",
    "basket",
    "glass",
    "shaker",
    "pen",
    "fabric",
    "toiletry",
    "stick",
    "chain",
    "pot",
    "tray",
    "wallet",
    "envelope",
    "packet",
    "pillow",
    "necklace",
    "cassette",
    "ashcan",
    "milk_can",
    "measuring_cup",
    "piggy_bank",
    "rain_barrel",
    "racket",
    "paddle",
    "pole",
    "teddy",
    "comic_book",
    "wooden_spoon",
    "soap_dispenser",
    "rubber_eraser",
    "pencil_sharpener",
    "space_bar",
    "scoreboard",
    "stretcher",
    "stage",
    "maze",
    "toilet_tissue",
    "communication_system",
    "cleaning_implement",
}
# Ordered: the first group whose names meet a class's ancestors wins (dog before mammal,
# vehicle before the generic artifact names its path also contains).
GROUPS: tuple[tuple[str, frozenset[str]], ...] = tuple(
    (name, frozenset(names))
    for name, names in (
        ("dog", {"dog"}),
        ("cat", {"feline", "cat", "big_cat"}),
        ("other mammal", _MAMMALS),
        ("bird", {"bird"}),
        (
            "reptile & amphibian",
            {
                "reptile",
                "amphibian",
                "snake",
                "lizard",
                "turtle",
                "crocodilian_reptile",
                "triceratops",
                "diapsid",
            },
        ),
        ("fish", {"fish"}),
        (
            "invertebrate",
            {
                "invertebrate",
                "insect",
                "arthropod",
                "arachnid",
                "crustacean",
                "mollusk",
                "echinoderm",
                "coelenterate",
                "worm",
                "centipede",
                "trilobite",
            },
        ),
        ("food", {"food", "nutriment", "dish", "foodstuff", "fruit", "vegetable", "produce"}),
        ("vehicle", {"vehicle", "wheeled_vehicle", "craft", "public_transport"}),
        ("clothing", {"clothing", "garment", "footwear", "headdress"}),
        (
            "nature & plant",
            {
                "natural_object",
                "geological_formation",
                "plant",
                "fungus",
                "flower",
                "vascular_plant",
            },
        ),
        ("structure", {"structure", "building"}),
        (
            "device & tool",
            {
                "device",
                "tool",
                "equipment",
                "implement",
                "instrument",
                "musical_instrument",
                "cooking_utensil",
                "utensil",
                "appliance",
            },
        ),
        (
            "other artifact",
            {
                "artifact",
                "commodity",
                "instrumentality",
                "covering",
                "container",
                "furniture",
                *_SMALL_ARTIFACTS,
            },
        ),
    )
)
OTHER, ADDED = "other", "added"
_LIVING = {"dog", "cat", "other mammal", "bird", "reptile & amphibian", "fish", "invertebrate"}
_SPECIFIC = _LIVING | {"food", "vehicle", "nature & plant"}
# ImageNet-X calls watercraft 'vessel', which in the K-LITE paths also names containers.
_METACLASS_RENAME = {"n04531098": "craft"}


def load_knowledge(paths: tuple[Path, ...] = KNOWLEDGE_PATHS) -> list[dict]:
    """The K-LITE records in 1k index order (the first existing file of `paths`).

    Raises:
        FileNotFoundError: none of the paths exists.
    """
    for path in paths:
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
    raise FileNotFoundError(f"K-LITE knowledge file not found; looked in {[str(p) for p in paths]}")


def load_metaclasses() -> list[str]:
    """ImageNet-X metaclass name of each 1k class, in index order."""
    # Located without importing the package (its import pulls in pandas and plotting).
    package = Path(find_spec("imagenet_x").submodule_search_locations[0])
    text = (package / "annotations" / "imagenet_1k_classes_to_100_metaclasses.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    return [_METACLASS_RENAME.get(r["wnid"], r["name"]) for r in rows]


@cache
def load_class_ancestors() -> dict[str, tuple[tuple[str, ...], str]]:
    """wnid -> (K-LITE hypernym path, most specific first; ImageNet-X metaclass), 1k classes."""
    from curation.catalog import load_imagenet1k_wnids

    wnids = load_imagenet1k_wnids()
    knowledge, metaclasses = load_knowledge(), load_metaclasses()
    if not len(wnids) == len(knowledge) == len(metaclasses):
        raise ValueError(
            f"Class lists differ in length: {len(wnids)}, {len(knowledge)}, {len(metaclasses)}"
        )
    return {
        wnid: (tuple(record.get("path_wn") or ()), meta)
        for wnid, record, meta in zip(wnids, knowledge, metaclasses, strict=True)
    }


def compute_group(ancestors: tuple[str, ...]) -> str:
    """The first group of `GROUPS` that names one of the ancestors, else 'other'."""
    names = set(ancestors)
    return next((group for group, members in GROUPS if names & members), OTHER)


def compute_class_group(path: tuple[str, ...], metaclass: str) -> str:
    """A class's group from its hypernym path and its metaclass.

    K-LITE's paths sometimes follow another sense of the word ('boxer' -> person, 'cock' ->
    body part), while ImageNet-X's metaclass is keyed by wnid but coarse for artifacts
    ('device', 'covering'). So: a metaclass naming an animal, food, vehicle or nature group
    wins; otherwise the path's group, unless the path points at a living thing or nowhere.
    """
    by_meta, by_path = compute_group((metaclass,)), compute_group(path)
    if by_meta in _SPECIFIC or by_path in _LIVING or by_path == OTHER:
        return by_meta
    return by_path


def get_class_groups(wnids: list[str]) -> dict[str, str]:
    """wnid -> group; classes outside ImageNet-1k are 'added'."""
    ancestors = load_class_ancestors()
    return {w: compute_class_group(*ancestors[w]) if w in ancestors else ADDED for w in wnids}


def compute_group_metrics(metrics: pl.DataFrame) -> pl.DataFrame:
    """Mean and spread of each metric per group and method.

    Args:
        metrics: rows with `wnid`, `method`, `metric`, `value` (one per class).

    Returns:
        (group, method, metric, mean, std, min, max, n_classes), groups in `GROUPS` order.
    """
    missing = {"wnid", "method", "metric", "value"} - set(metrics.columns)
    if missing:
        raise ValueError(
            f"metrics need columns wnid, method, metric, value; missing {sorted(missing)}"
        )
    groups = get_class_groups(metrics["wnid"].unique().to_list())
    order = {g: i for i, g in enumerate([g for g, _ in GROUPS] + [OTHER, ADDED])}
    return (
        metrics.with_columns(pl.col("wnid").replace_strict(groups).alias("group"))
        .group_by("group", "method", "metric")
        .agg(
            pl.col("value").mean().alias("mean"),
            pl.col("value").std().alias("std"),
            pl.col("value").min().alias("min"),
            pl.col("value").max().alias("max"),
            pl.col("wnid").n_unique().alias("n_classes"),
        )
        .with_columns(pl.col("group").replace_strict(order, return_dtype=pl.Int32).alias("_order"))
        .sort("_order", "method", "metric")
        .drop("_order")
    )
