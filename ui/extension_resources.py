"""Cached base model and donors for the head-synthesis pages (one copy per process).

The donors depend on the stored text statistics; those are built by a background job
('text-stats'), never on the script thread. `get_donors` queues that job when the build is
missing or stale and returns the donors of the stored build meanwhile (None when there is
none yet).
"""

from __future__ import annotations

import streamlit as st

from extension.specs import ModelSpec


@st.cache_resource(show_spinner="Loading the base model ...", max_entries=2)
def get_base(model_json: str):
    """The `BaseClassifier` of a model spec (loaded once per process)."""
    from extension.models import load_base_classifier

    return load_base_classifier(ModelSpec.from_json(model_json))


@st.cache_resource(show_spinner="Loading the class texts ...", max_entries=2)
def _load_donors(model_json: str, build_id: int):
    del build_id  # part of the cache key only: a new build gives a new entry
    from extension.synthesis.donors import load_donors
    from ui.resources import get_connection

    base = get_base(model_json)
    return load_donors(get_connection().cursor(), base.head, list(base.class_wnids))


def get_donors(con, model: ModelSpec):
    """(donors or None, text statistics state 'missing' | 'stale' | 'current').

    Queues the 'text-stats' job when the statistics are missing or stale.
    """
    from db.text_stats import get_current_build
    from extension.text.store import get_text_stats_state
    from ui.resources import start_job_once

    state = get_text_stats_state(con)
    if state != "current":
        start_job_once("text-stats", {})
    build = get_current_build(con)
    if build is None:
        return None, state
    return _load_donors(model.to_json(), int(build["build_id"])), state
