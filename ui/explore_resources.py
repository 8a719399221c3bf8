"""Cached resources of the explore tools: the query encoder, the caption index (one
normalised float32 matrix per process, rebuilt when the feature store or the captions
change), the similar pairs behind the duplicate groups, and map projections.

Keys are cheap to compute on every run: the store's shard names and (count, max id) of the
captions; the index and the pairs are rebuilt only when one of them changes.
"""

from __future__ import annotations

import os

import polars as pl
import streamlit as st

from curation.duplicates import (
    MIN_THRESHOLD,
    SimilarPairs,
    compute_similar_pairs,
    with_normalized_texts,
)
from curation.relevance.specs import OFFLINE_ENCODER
from curation.search import (
    CaptionIndex,
    get_feature_store_state,
    list_caption_texts,
    load_caption_index,
    load_query_encoder,
)
from db.connect import resolve_db_path
from db.explore import get_caption_state
from db.storage import get_storage

MAX_LENGTH = 128  # the relevance runs' max_length: part of the feature cache key
ENCODER_ENV = "WORKBENCH_SEARCH_ENCODER"  # default: the relevance runs' offline encoder


def get_encoder_name() -> str:
    """The encoder of the caption features the explore tools use."""
    return os.environ.get(ENCODER_ENV) or OFFLINE_ENCODER


def get_cache_dir(con) -> str:
    """The caption feature cache of this database (its storage root's text-features/)."""
    return str(get_storage(con).text_features)


@st.cache_resource(show_spinner="Loading the sentence encoder...", max_entries=2)
def get_query_encoder(encoder_name: str):
    """(encoder, tokenizer, encoder key), once per process."""
    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return load_query_encoder(encoder_name)


@st.cache_resource(show_spinner="Reading the caption features...", max_entries=2)
def _load_index(_con, db_path: str, encoder_key: str, cache_dir: str, store_state, caption_state):
    return load_caption_index(
        _con, encoder_key=encoder_key, max_length=MAX_LENGTH, cache_dir=cache_dir
    )


def get_caption_index(con) -> CaptionIndex:
    """The caption index of this database and the default encoder (cached while the store
    and the captions stay the same)."""
    key, cache_dir = get_query_encoder(get_encoder_name())[2], get_cache_dir(con)
    return _load_index(
        con,
        str(resolve_db_path().resolve()),
        key,
        cache_dir,
        get_feature_store_state(key, cache_dir=cache_dir),
        get_caption_state(con),
    )


@st.cache_resource(show_spinner="Finding similar captions (once per feature set)...", max_entries=2)
def _load_pairs(_index: CaptionIndex, db_path: str, encoder_key: str, store_state, caption_state):
    return compute_similar_pairs(_index.matrix, min_similarity=MIN_THRESHOLD)


def get_similar_pairs(con, index: CaptionIndex) -> SimilarPairs:
    """Pairs of captions at cosine >= MIN_THRESHOLD (moving the threshold reuses them)."""
    key = index.encoder_key
    return _load_pairs(
        index,
        str(resolve_db_path().resolve()),
        key,
        get_feature_store_state(key, cache_dir=get_cache_dir(con)),
        get_caption_state(con),
    )


@st.cache_resource(show_spinner=False, max_entries=2)
def _load_texts(_con, db_path: str, caption_state) -> pl.DataFrame:
    return with_normalized_texts(list_caption_texts(_con))


def get_caption_texts(con) -> pl.DataFrame:
    """caption_id, wnid, text, normalized of every caption (cached while captions stay)."""
    return _load_texts(con, str(resolve_db_path().resolve()), get_caption_state(con))
