"""encoders/: one text-vector cache for the relevance features and the class-text embeddings.

A text is encoded once per (encoder, max_length), whichever path asks first: the relevance
feature job (captions and class sentences) or the sentence embeddings of the class texts
(unit vectors, read from the same raw rows). Tiny random encoder; forward passes are counted
with a forward hook on the loaded model.
"""

from __future__ import annotations

import numpy as np
import torch

import tests.relevance_helpers as helpers
from curation.relevance.dataset import build_relevance_dataset
from curation.relevance.features import run_compute_relevance_features
from curation.relevance.specs import FeatureSpec
from db import text_stats as stats_db
from db.storage import get_storage
from encoders.cache import compute_normalized, load_text_features
from encoders.loading import compute_encoder_key, load_encoder
from encoders.text_encoder import load_text_encoder
from extension.specs import TextEmbeddingSpec
from extension.text.embedding import run_embed_class_texts
from tests.relevance_helpers import fill_relevance_db

tiny_encoder_dir = helpers.tiny_encoder_dir  # fixtures


def _count_forward_calls(model) -> list[int]:
    """A list that grows by one per forward pass of `model` (batch sizes)."""
    calls: list[int] = []
    model.register_forward_hook(lambda module, args, kwargs, out: calls.append(1), with_kwargs=True)
    return calls


def _shards(folder) -> list[str]:
    return sorted(p.name for p in folder.glob("shard-*.safetensors"))


def _dataset_texts(con, spec: FeatureSpec) -> list[str]:
    dataset = build_relevance_dataset(con, spec.dataset)
    sentences = [s for wnid in dataset.class_wnids for s in dataset.sentences[wnid]]
    return dataset.captions["text"].to_list() + sentences


def test_relevance_features_then_embeddings_encode_each_text_once(con, tiny_encoder_dir):
    fill_relevance_db(con, per_class=6)
    spec = FeatureSpec(encoder=str(tiny_encoder_dir))  # the storage root's cache, max 128
    report = run_compute_relevance_features(con, spec)
    assert report["n_new"] > 0
    texts = _dataset_texts(con, spec)
    # The class-text embeddings' encoder, as the 'text-embeddings' job and the pages load it.
    encoder = load_text_encoder(str(tiny_encoder_dir), cache_dir=get_storage(con).cache)
    assert encoder.key == report["encoder_key"]
    calls, shards = _count_forward_calls(encoder.model), _shards(encoder.store.folder)
    vectors = encoder.embed(texts)
    assert calls == []  # every text came from the relevance job's rows
    assert _shards(encoder.store.folder) == shards  # and nothing new was written
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(len(texts)))
    raw, again = load_text_features(
        encoder.model,
        encoder.tokenizer,
        texts,
        encoder_key=encoder.key,
        cache_dir=get_storage(con).text_features,
    )
    assert again.n_new == 0
    np.testing.assert_allclose(vectors.numpy(), compute_normalized(raw), rtol=1e-6, atol=1e-7)
    # A text neither path has seen is encoded (one forward pass) and stored once.
    encoder.embed(["a text nobody encoded before"])
    assert len(calls) == 1 and len(_shards(encoder.store.folder)) == len(shards) + 1


def test_embeddings_then_relevance_features_encode_each_text_once(con, tiny_encoder_dir):
    fill_relevance_db(con, per_class=6)
    result = run_embed_class_texts(con, TextEmbeddingSpec(encoder=str(tiny_encoder_dir)))
    texts = [t or "" for t in stats_db.list_class_examples(con)["text"].to_list()]
    assert result["n_texts"] == len(texts) > 0
    model, tokenizer = load_encoder(str(tiny_encoder_dir))
    calls = _count_forward_calls(model)
    key = compute_encoder_key(str(tiny_encoder_dir), model)
    assert key == result["encoder_key"]
    features, report = load_text_features(
        model, tokenizer, texts, encoder_key=key, cache_dir=get_storage(con).text_features
    )
    assert report.n_new == 0 and report.n_cached == len(set(texts))
    assert calls == []
    assert np.linalg.norm(features, axis=1).std() > 0  # raw rows are stored, not unit ones


def test_free_text_is_encoded_but_never_stored(tiny_encoder_dir, tmp_path):
    model, tokenizer = load_encoder(str(tiny_encoder_dir))
    key = compute_encoder_key("tiny", model)
    options = dict(encoder_key=key, cache_dir=tmp_path, max_length=64)
    stored, _ = load_text_features(model, tokenizer, ["a green tench"], **options)
    texts = ["a green tench", "typed on a page"]
    free, report = load_text_features(model, tokenizer, texts, write=False, **options)
    assert (report.n_new, report.n_cached) == (1, 1)
    np.testing.assert_array_equal(free[0], stored[0])
    assert len(_shards(tmp_path / key)) == 1
    unit, _ = load_text_features(model, tokenizer, texts, write=False, normalize=True, **options)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-6)


def test_an_embedding_job_of_older_versions_is_redone_once_by_the_page():
    """Old versions kept the embeddings in text-embeddings/ under another key: the page
    queues one job into the shared cache, then never again (no requeue loop)."""
    from ui.extension_resources import _embedded_since

    build = {"built_at": 1}
    old = {"status": "succeeded", "created_at": 2, "result": {"encoder_key": "bertmodel-0123"}}
    new = {**old, "result": {"encoder_key": "offline-all-minilm-l6-v2-4567"}}
    assert not _embedded_since(old, build, "offline-all-minilm-l6-v2-4567")
    assert _embedded_since(new, build, "offline-all-minilm-l6-v2-4567")
