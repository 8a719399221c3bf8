"""Class catalog: 1000 ImageNet-1k classes from timm's data, plus added classes."""

from __future__ import annotations

import pytest

from curation.catalog import add_class, load_imagenet1k_wnids, seed_imagenet1k, slugify_custom_id
from db.classes import count_classes, get_class, list_classes


def test_seed_inserts_1000_classes_in_index_order_and_is_idempotent(con):
    assert seed_imagenet1k(con) == 1000
    assert seed_imagenet1k(con) == 0
    assert count_classes(con) == 1000
    frame = list_classes(con)
    assert frame["class_index"].to_list() == list(range(1000))
    assert frame["wnid"].to_list() == list(load_imagenet1k_wnids())
    assert get_class(con, "n01440764")["name"] == "tench"


def test_duplicate_names_are_distinct_classes(catalog_con):
    cranes = list_classes(catalog_con).filter(name="crane")
    assert cranes.height == 2
    assert len(set(cranes["wnid"].to_list())) == 2


def test_add_imagenet21k_wnid_and_custom_class(catalog_con):
    warship = add_class(catalog_con, class_id="n04552696")  # warship, a 21k wnid not in 1k
    assert warship["origin"] == "imagenet-21k" and warship["class_index"] is None
    assert "warship" in warship["lemmas"]
    custom = add_class(
        catalog_con, class_id=slugify_custom_id("Robot vacuum!"), name="robot vacuum"
    )
    assert custom["wnid"] == "custom-robot-vacuum"
    assert count_classes(catalog_con) == 1002


@pytest.mark.parametrize(
    ("class_id", "name", "message"),
    [
        ("n01440764", None, "already in the catalog"),
        ("n99999999", None, "not an ImageNet-21k wnid"),
        ("custom-x", "", "needs a name"),
        ("DROP TABLE classes", "x", "Invalid class id"),
    ],
)
def test_bad_class_ids_are_refused_clearly(catalog_con, class_id, name, message):
    with pytest.raises(ValueError, match=message):
        add_class(catalog_con, class_id=class_id, name=name)
    assert count_classes(catalog_con) == 1000
