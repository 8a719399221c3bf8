"""WordNet groups of known classes and metrics per group."""

from __future__ import annotations

import polars as pl
import pytest

from extension.evaluation.hierarchy import (
    ADDED,
    compute_class_group,
    compute_group_metrics,
    get_class_groups,
)


def test_known_classes_fall_in_their_groups():
    groups = get_class_groups(
        [
            "n02085620",
            "n02108089",
            "n01882714",
            "n02206856",
            "n07697313",
            "n04467665",
            "n01514668",
            "n02123045",
            "n01443537",
            "custom-warship",
        ]
    )
    assert groups == {
        "n02085620": "dog",  # Chihuahua
        "n02108089": "dog",  # boxer: K-LITE follows the 'person' sense, the metaclass fixes it
        "n01882714": "other mammal",  # koala
        "n02206856": "invertebrate",  # bee
        "n07697313": "food",  # cheeseburger
        "n04467665": "vehicle",  # trailer truck
        "n01514668": "bird",  # cock
        "n02123045": "cat",  # tabby
        "n01443537": "fish",  # goldfish
        "custom-warship": ADDED,
    }


def test_every_imagenet_class_gets_a_group():
    from curation.catalog import load_imagenet1k_wnids

    groups = get_class_groups(list(load_imagenet1k_wnids()))
    counts = pl.Series(list(groups.values())).value_counts()
    assert int(counts.filter(pl.col("") == "dog")["count"][0]) == 118  # the 118 ImageNet dog breeds
    assert sum(v == "other" for v in groups.values()) < 20


def test_group_rule_prefers_the_path_for_artifacts():
    assert (
        compute_class_group(("violin", "bowed_stringed_instrument", "musical_instrument"), "device")
        == "device & tool"
    )
    assert compute_class_group(("jersey", "shirt", "garment", "clothing"), "covering") == "clothing"


def test_group_metrics_average_per_group_and_method():
    metrics = pl.DataFrame(
        {
            "wnid": ["n02085620", "n02108089", "n01882714", "n02085620"],
            "method": ["trained", "trained", "trained", "paper-cosine"],
            "metric": ["auroc"] * 4,
            "value": [0.9, 0.7, 0.6, 0.5],
        }
    )
    out = compute_group_metrics(metrics)
    dog = out.filter((pl.col("group") == "dog") & (pl.col("method") == "trained"))
    assert dog["mean"][0] == pytest.approx(0.8) and dog["n_classes"][0] == 2
    assert out["group"].to_list()[0] == "dog"  # groups in their fixed order
    with pytest.raises(ValueError, match="missing"):
        compute_group_metrics(metrics.drop("value"))
