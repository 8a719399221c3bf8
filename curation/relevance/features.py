"""Frozen-encoder text features: computed once per (encoder weights, max_length, text), cached.

The encoder pass is a pure function over a list of texts
(`encoders.pooling.compute_text_features`), separate from the caching loop
(`load_text_features`), so a batch engine (a Ray actor) can call the same function and write
the same store. Layout of the cache::

    <cache_dir>/<encoder key>/shard-<id>.safetensors    (contract.vectors.VectorStore)

- encoder key = `encoders.loading.compute_encoder_key(name, model)`: a slug of the encoder
  name plus 16 hex digits of its weights' hash, so other weights never hit;
- text key = `compute_text_key(text, max_length=...)`: sha256 of "<max_length>\\n<text>";
- features: (N, D) float32 mean-pooled last hidden states over the non-padding tokens of
  each text alone, truncated to max_length tokens (special tokens included).

Texts are processed in chunks (one shard each), so an interrupted pass loses at most one
chunk and a re-run continues where it stopped. torch/transformers are imported lazily.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract.files import hash_bytes
from contract.progress import Progress, no_progress
from contract.vectors import VectorStore
from db.storage import get_storage
from encoders.loading import compute_encoder_key
from encoders.pooling import compute_text_features


@dataclass(frozen=True)
class FeatureReport:
    """What `load_text_features` did: unique texts, how many were encoded now / found cached,
    the seconds spent encoding, the encoder key (the cache folder) and the engine that
    encoded the new ones."""

    n_texts: int
    n_unique: int
    n_new: int
    n_cached: int
    encode_seconds: float
    encoder_key: str
    engine: str = "local"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def compute_text_key(text: str, *, max_length: int) -> str:
    """The cache key of one text's features: sha256 of max_length and the text."""
    return hash_bytes(f"{int(max_length)}\n{text}".encode())


def open_text_feature_store(encoder_key: str, *, cache_dir: str | Path) -> VectorStore:
    """The text features of one encoder: `<cache_dir>/<encoder_key>/` (`cache_dir`: the storage
    root's text-features/ folder, `db.storage.get_storage(con).text_features`, or a given one)."""
    return VectorStore(Path(cache_dir) / encoder_key, name=encoder_key)


def load_text_features(
    encoder,
    tokenizer,
    texts: Sequence[str],
    *,
    encoder_key: str,
    max_length: int = 128,
    batch_size: int = 64,
    device: str = "cpu",
    cache_dir: str | Path,
    chunk_size: int = 2048,
    progress: Progress | None = None,
    engine: str = "local",
    ray_address: str = "",
    ray_pool=None,
) -> tuple[np.ndarray, FeatureReport]:
    """Features of `texts`, encoding only what the cache lacks (one shard per chunk).

    Args:
        engine: 'local' (this process) or 'ray': chunks encoded by a pool of Ray actors
            (`scale.batch.run_vector_job`; `device` is then the actors' 'auto' | 'cpu' |
            'cuda'), writing the same shards under the same keys.
        ray_address, ray_pool: where and on how many actors (`scale.specs`).

    Returns:
        ((N, D) float32 features in input order, the report).
    """
    progress = progress or no_progress
    store = open_text_feature_store(encoder_key, cache_dir=cache_dir)
    keys = [compute_text_key(t, max_length=max_length) for t in texts]
    unique = dict(zip(keys, texts, strict=True))  # key -> text, first occurrence order
    known = store.known()
    todo = [k for k in unique if k not in known]
    started = time.perf_counter()
    if engine == "ray":
        factory = RayTextEncoder(encoder, tokenizer, batch_size=batch_size, max_length=max_length)
        _encode_on_ray(
            factory, todo, unique, store, device, chunk_size, ray_address, ray_pool, progress
        )
    else:
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start : start + chunk_size]

            def _report(n: int, start: int = start) -> None:
                done = start + n
                rate = done / max(time.perf_counter() - started, 1e-9)
                eta = (len(todo) - done) / max(rate, 1e-9)
                progress(
                    done / len(todo),
                    f"encoded {done:,} of {len(todo):,} new texts ({rate:,.0f}/s, "
                    f"about {eta / 60:,.1f} min left)",
                )

            vectors = compute_text_features(
                encoder,
                tokenizer,
                [unique[k] for k in chunk],
                batch_size=batch_size,
                max_length=max_length,
                device=device,
                on_batch=_report,
            )
            _write_shard(store, chunk, vectors)
    seconds = time.perf_counter() - started
    features = store.get(keys).numpy() if keys else np.zeros((0, 0), np.float32)
    report = FeatureReport(
        len(texts), len(unique), len(todo), len(unique) - len(todo), seconds, encoder_key, engine
    )
    return features.astype(np.float32, copy=False), report


def _write_shard(store: VectorStore, keys: list[str], vectors: np.ndarray) -> None:
    import torch

    store.write_shard(keys, torch.from_numpy(vectors))


def _encode_on_ray(factory, todo, unique, store, device, chunk_size, address, pool, progress):
    """The texts of `todo` keys encoded by Ray actors into `store` (one shard per chunk)."""
    from scale.batch import run_vector_job

    rows = [{"index": i, "key": key, "text": unique[key]} for i, key in enumerate(todo)]
    result = run_vector_job(
        rows,
        factory,
        store.folder,
        address=address,
        pool=pool,
        device=device,
        rows_per_batch=chunk_size,
        progress=progress,
        unit="texts",
    )
    if result.errors:
        raise RuntimeError(
            f"{len(result.errors)} texts failed on Ray: {result.errors[min(result.errors)]}"
        )
    store.reload()  # the actors wrote shards this object has not read


class RayTextEncoder:
    """`compute_text_features` as a `scale.batch.EncoderFactory`: pickled with the encoder
    (on the CPU) and tokenizer to every Ray actor, which calls it once."""

    def __init__(self, encoder, tokenizer, *, batch_size: int, max_length: int):
        import copy

        on_cpu = all(p.device.type == "cpu" for p in encoder.parameters())
        self.encoder = encoder if on_cpu else copy.deepcopy(encoder).cpu()
        self.tokenizer, self.batch_size, self.max_length = tokenizer, batch_size, max_length

    def __call__(self, device: str, threads: int):
        import torch

        torch.set_num_threads(threads)
        encoder = self.encoder.to(device)

        def encode(batch: dict) -> dict:
            features = compute_text_features(
                encoder,
                self.tokenizer,
                [str(t) for t in batch["text"]],
                batch_size=self.batch_size,
                max_length=self.max_length,
                device=device,
            )
            return {"key": batch["key"], "error": [""] * len(features), "features": features}

        return encode


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
    **engine,
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
        **engine,
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
        device=spec.device if spec.engine == "ray" else device,  # Ray: the actors' device
        cache_dir=spec.cache_dir or get_storage(con).text_features,
        engine=spec.engine,
        ray_address=spec.ray_address,
        ray_pool=spec.ray_pool,
        progress=progress,
    )
    report = result.report
    progress(1.0, f"features ready: {report['n_new']:,} encoded, {report['n_cached']:,} cached")
    return {**report, "n_classes": len(dataset.class_wnids), "n_captions": dataset.captions.height}
