"""The one registry helper (`contract.registry`) and the tables built on it."""

import pytest

from contract.registry import Registry


def test_duplicates_unknown_names_and_order():
    table = Registry("widget")

    def first():
        return 1

    table.add("b", first)
    table.add("a", print)
    table.add("b", first)  # the same entry again: a module imported twice
    assert table.names() == ["b", "a"] and "a" in table and len(table) == 2
    with pytest.raises(ValueError, match="widget 'b' is registered twice"):
        table.add("b", print)
    with pytest.raises(ValueError, match=r"Unknown widget 'c'; known: \['b', 'a'\]"):
        table.get("c")
    assert table.get("b") is first


@pytest.mark.parametrize(
    "lookup, message",
    [
        ("jobs.registry:get_job_kind", "Unknown job kind 'x'"),
        ("extension.synthesis.methods:resolve_method", "Unknown method 'x'"),
        ("extension.synthesis.methods:get_method_defaults", "Unknown synthesis method 'x'"),
        ("extension.text.distances:get_distance_vectors", "Unknown distance 'x'"),
        ("curation.description_sources:get_description_source", "Unknown description source"),
    ],
)
def test_every_table_answers_an_unknown_name_the_same_way(lookup, message):
    import importlib

    module, name = lookup.split(":")
    with pytest.raises(ValueError, match=f"{message}.*; known: "):
        getattr(importlib.import_module(module), name)("x")
