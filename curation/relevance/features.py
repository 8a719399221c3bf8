"""Frozen-encoder features of a relevance dataset (captions and class sentences), from the
one text-vector cache (`encoders.cache`): computed once per (encoder weights, max_length,
text), whoever asks first (a relevance run, the caption search, the class-text embeddings).

The cache, its keys, its local and Ray engines and the pure encoder pass moved to
`encoders/`; their names are re-exported here for callers of the old module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract.progress import Progress, no_progress
from db.storage import get_storage
from encoders.cache import FeatureReport as FeatureReport
from encoders.cache import compute_text_key as compute_text_key
from encoders.cache import load_text_features
from encoders.cache import open_text_feature_store as open_text_feature_store
from encoders.loading import compute_encoder_key
from encoders.pooling import compute_text_features as compute_text_features
from encoders.ray import RayTextEncoder as RayTextEncoder


@dataclass(frozen=True)
class DatasetFeatures:
    """Features of a relevance dataset: captions (rows of `dataset.captions`) and the class
    sentences (every sentence of every class, classes in `class_wnids` order).

    Attributes:
        captions: (N, D). sentences: (M, D). sentence_labels: (M,) class rows.
        report: n_texts, n_new, n_cached, encode_seconds, texts_per_s, encoder_key.
    """

    captions: np.ndarray
    sentences: np.ndarray
    sentence_labels: np.ndarray
    report: dict


def compute_dataset_features(
    dataset,
    encoder,
    tokenizer,
    *,
    encoder_key: str,
    max_length: int,
    batch_size: int,
    device: str,
    cache_dir: str | Path,
    progress: Progress | None = None,
    engine=None,
) -> DatasetFeatures:
    """Features of a `RelevanceDataset`'s captions and class sentences, from the cache where
    it has them (one cache lookup for both); `engine`: as in `load_text_features`."""
    sentences, sentence_labels = [], []
    for row, wnid in enumerate(dataset.class_wnids):
        sentences += dataset.sentences[wnid]
        sentence_labels += [row] * len(dataset.sentences[wnid])
    captions = dataset.captions["text"].to_list()
    features, report = load_text_features(
        encoder,
        tokenizer,
        captions + sentences,
        encoder_key=encoder_key,
        max_length=max_length,
        batch_size=batch_size,
        device=device,
        cache_dir=cache_dir,
        progress=progress,
        engine=engine,
    )
    summary = report.to_dict()
    summary["texts_per_s"] = report.n_new / report.encode_seconds if report.n_new else None
    return DatasetFeatures(
        features[: len(captions)],
        features[len(captions) :],
        np.asarray(sentence_labels, dtype=np.int64),
        summary,
    )


def run_compute_relevance_features(con, spec, progress: Progress | None = None) -> dict:
    """Job entry point: compute (or find cached) the features of a dataset's captions and
    class sentences (`FeatureSpec`), so a frozen training after it encodes nothing.

    Returns:
        The feature report plus n_classes and n_captions.
    """
    from contract.devices import resolve_device
    from curation.relevance.dataset import build_relevance_dataset
    from curation.relevance.specs import FeatureSpec
    from encoders.loading import load_encoder

    if not isinstance(spec, FeatureSpec):
        raise ValueError(f"spec must be a FeatureSpec, got {type(spec).__name__}")
    progress = progress or no_progress
    dataset = build_relevance_dataset(con, spec.dataset)
    progress(0.0, f"loading encoder {spec.encoder}")
    device = resolve_device(spec.device)
    encoder, tokenizer = load_encoder(spec.encoder)
    encoder.to(device)
    result = compute_dataset_features(
        dataset,
        encoder,
        tokenizer,
        encoder_key=compute_encoder_key(spec.encoder, encoder),
        max_length=spec.max_length,
        batch_size=spec.batch_size,
        device=spec.device if spec.engine.on_ray else device,  # Ray: the actors' device
        cache_dir=spec.cache_dir or get_storage(con).text_features,
        engine=spec.engine,
        progress=progress,
    )
    report = result.report
    progress(1.0, f"features ready: {report['n_new']:,} encoded, {report['n_cached']:,} cached")
    return {**report, "n_classes": len(dataset.class_wnids), "n_captions": dataset.captions.height}
