"""Cached base model, sentence encoder and donors for the head-synthesis pages (one copy per
process).

The donors depend on the stored text statistics and on the sentence embeddings of the class
texts; both are built by background jobs ('text-stats', 'text-embeddings'), never on the
script thread. `get_donors` queues what is missing or stale and returns the donors of what
is stored meanwhile (None while no statistics exist; without embeddings until they exist).
"""

from __future__ import annotations

import streamlit as st

from extension.specs import DEFAULT_TEXT_ENCODER, ModelSpec, TextEmbeddingSpec, TextStatsSpec


def _cache_dir() -> str:
    """The cache folder of the app's database's storage root (where the jobs write too)."""
    from db.storage import get_storage
    from ui.resources import get_cursor

    return str(get_storage(get_cursor()).cache)


def get_base(model_json: str):
    """The `BaseClassifier` of a model spec (loaded once per process and storage root)."""
    return _load_base(model_json, _cache_dir())


def get_text_encoder(name: str = DEFAULT_TEXT_ENCODER):
    """The sentence encoder of the embedding distance, reading the vectors the
    'text-embeddings' job writes (loaded once per process and storage root)."""
    return _load_text_encoder(name, _cache_dir())


@st.cache_resource(show_spinner="Loading the base model ...", max_entries=2)
def _load_base(model_json: str, cache_dir: str):
    from extension.models import load_base_classifier

    return load_base_classifier(ModelSpec.from_json(model_json), cache_dir=cache_dir)


@st.cache_resource(show_spinner="Loading the sentence encoder ...", max_entries=1)
def _load_text_encoder(name: str, cache_dir: str):
    from extension.text.embedding import load_text_encoder

    return load_text_encoder(name, cache_dir=cache_dir)


@st.cache_data(show_spinner=False, max_entries=8)
def _embeddings_ready(build_id: int, last_embedding_job: str | None) -> bool:
    """Whether every class text of this build has its sentence embedding (the arguments
    are the cache key: a new build or a finished embedding job asks again)."""
    del last_embedding_job
    from extension.text.embedding import get_class_embedding_state
    from ui.resources import get_cursor

    return get_class_embedding_state(get_cursor(), get_text_encoder())["state"] == "current"


@st.cache_resource(show_spinner="Loading the class texts ...", max_entries=2)
def _load_donors(model_json: str, build_id: int, with_embeddings: bool):
    del build_id  # part of the cache key only: a new build gives a new entry
    from extension.synthesis.donors import load_donors
    from ui.resources import get_connection

    base = get_base(model_json)
    encoder = get_text_encoder() if with_embeddings else None
    return load_donors(
        get_connection().cursor(),
        base.head,
        list(base.class_wnids),
        text_encoder=encoder,
        embed_missing=False,
    )


def get_donors(con, model: ModelSpec):
    """(donors or None, text statistics state 'missing' | 'stale' | 'current').

    Queues the 'text-stats' job when the statistics are missing or stale, and the
    'text-embeddings' job when class texts lack their sentence embedding.
    """
    from db import jobs as job_db
    from db.text_stats import get_current_build
    from extension.text.store import get_text_stats_state
    from ui.resources import start_job_once
    from ui.widgets import find_latest_job

    state = get_text_stats_state(con)
    if state != "current":
        start_job_once(TextStatsSpec())
    build = get_current_build(con)
    if build is None:
        return None, state
    job_id = find_latest_job("text-embeddings")
    job = job_db.get_job(con, job_id) if job_id is not None else None
    job_state = f"{job_id}:{job['status']}" if job else None
    ready = _embeddings_ready(int(build["build_id"]), job_state)
    if not ready and state == "current" and not _embedded_since(job, build, get_text_encoder().key):
        start_job_once(TextEmbeddingSpec())
    return _load_donors(model.to_json(), int(build["build_id"]), ready), state


def _embedded_since(job: dict | None, build: dict, encoder_key: str) -> bool:
    """Whether an embedding job succeeded after this statistics build was made, into the
    cache this encoder reads: then the texts were embedded and another job would only repeat
    it (a page must never requeue a job in a loop, whatever it reads wrong; the Jobs page and
    `workbench text-embeddings` can still run one). A job of older versions wrote another
    cache (text-embeddings/, another key), so its texts are embedded again, once."""
    if not job or job["status"] != "succeeded" or build.get("built_at") is None:
        return False
    if (job.get("result") or {}).get("encoder_key", encoder_key) != encoder_key:
        return False
    return job["created_at"] >= build["built_at"]
