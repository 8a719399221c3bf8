"""Cached base model and donors for the head-synthesis pages (one copy per process)."""

from __future__ import annotations

import streamlit as st

from extension.specs import LooSpec, ModelSpec


@st.cache_resource(show_spinner="Loading the base model and the class texts ...", max_entries=2)
def get_base(model_json: str, fingerprint: str):
    """(model, head, class wnids, donors) for a model spec; a new text build gives a new entry."""
    del fingerprint  # part of the cache key only
    from extension.loo import load_base
    from ui.resources import get_connection

    return load_base(get_connection().cursor(), LooSpec(model=ModelSpec.from_json(model_json)))


def get_donors(con, model: ModelSpec):
    """The `Donors` for `model`, rebuilding the text statistics first when they are stale."""
    from db.extension import compute_examples_fingerprint
    from extension.text_store import run_build_text_stats

    run_build_text_stats(con)
    return get_base(model.to_json(), compute_examples_fingerprint(con))[3]
