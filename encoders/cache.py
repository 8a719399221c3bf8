"""The one text-vector cache: every text encoded once per (encoder, max_length), whoever asks.

Relevance features, caption search and the class-text embeddings all read and fill it, so a
text the relevance features encoded is never encoded again for its sentence embedding (nor
the other way round). Layout::

    <cache_dir>/<encoder key>/shard-<id>.safetensors    (contract.vectors.VectorStore)

- `cache_dir`: the storage root's text-features/ folder (`Storage.text_features`) or a given
  one (`--cache-dir`);
- encoder key = `encoders.loading.compute_encoder_key(name, model)`: a slug of the encoder
  name plus 16 hex digits of its weights' hash, so other weights never hit;
- text key = `compute_text_key(text, max_length=...)`: sha256 of "<max_length>\\n<text>";
- vectors: (N, D) float32 mean-pooled states (`encoders.pooling.compute_text_features`),
  stored raw; normalization is applied when read (`normalize=True`: the sentence
  embeddings' unit vectors), so raw and unit readers share every row.

Texts are encoded in chunks (one shard each), so an interrupted pass loses at most one chunk
and a re-run continues where it stopped. Engines: 'local' (this process) or 'ray'
(`encoders.ray`: Ray actors write the same shards under the same keys).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from contract.files import hash_bytes
from contract.progress import Progress, format_duration, no_progress
from contract.vectors import VectorStore
from encoders.pooling import compute_text_features

if TYPE_CHECKING:  # only for the annotation: scale is imported when Ray is used
    from scale.specs import EngineSpec


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
    """The cache key of one text's vector: sha256 of max_length and the text."""
    return hash_bytes(f"{int(max_length)}\n{text}".encode())


def open_text_feature_store(encoder_key: str, *, cache_dir: str | Path) -> VectorStore:
    """The text vectors of one encoder: `<cache_dir>/<encoder_key>/` (`cache_dir`: the storage
    root's text-features/ folder, `db.storage.get_storage(con).text_features`, or a given one)."""
    return VectorStore(Path(cache_dir) / encoder_key, name=encoder_key)


def compute_normalized(vectors: np.ndarray) -> np.ndarray:
    """(N, D) float32 rows scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def load_text_features(
    encoder,
    tokenizer,
    texts: Sequence[str],
    *,
    encoder_key: str,
    max_length: int = 128,
    batch_size: int = 64,
    device: str = "cpu",
    cache_dir: str | Path | None = None,
    store: VectorStore | None = None,
    chunk_size: int = 2048,
    progress: Progress | None = None,
    normalize: bool = False,
    write: bool = True,
    engine: EngineSpec | None = None,
) -> tuple[np.ndarray, FeatureReport]:
    """Vectors of `texts`, encoding only what the cache lacks (one shard per chunk).

    Args:
        cache_dir: the folder holding one subfolder per encoder key; or `store`: that
            encoder's store already open (a long-lived reader keeps what it has read).
        normalize: return unit rows (the cache keeps the raw ones either way).
        write: False encodes what is missing without storing it (a page's free text,
            which would otherwise leave a shard per keystroke).
        engine: None or 'local' = this process; 'ray' = chunks encoded by a pool of Ray
            actors (`encoders.ray`; `device` is then the actors' 'auto' | 'cpu' | 'cuda'),
            writing the same shards under the same keys (`scale.specs.EngineSpec`).

    Returns:
        ((N, D) float32 vectors in input order, the report).
    """
    on_ray = engine is not None and engine.on_ray
    if on_ray and not write:
        raise ValueError("the Ray engine always writes the cache: write=False needs 'local'")
    if store is None and cache_dir is None:
        raise ValueError("give cache_dir (the text-features folder) or an open store")
    if store is None:
        store = open_text_feature_store(encoder_key, cache_dir=cache_dir)
    keys = [compute_text_key(t, max_length=max_length) for t in texts]
    unique = dict(zip(keys, texts, strict=True))  # key -> text, first occurrence order
    known = store.known()
    todo = [k for k in unique if k not in known]
    started = time.perf_counter()
    encode = dict(batch_size=batch_size, max_length=max_length, device=device)
    fresh: dict[str, np.ndarray] = {}  # encoded but not stored (write=False)
    if on_ray:
        from encoders.ray import encode_on_ray

        args = (
            todo,
            unique,
            store,
            chunk_size,
            engine.address,
            engine.pool,
            progress or no_progress,
        )
        encode_on_ray(encoder, tokenizer, *args, **encode)
    else:
        for chunk, vectors in _encode_locally(
            encoder, tokenizer, todo, unique, chunk_size, progress or no_progress, encode
        ):
            if write:
                _write_shard(store, chunk, vectors)
            else:
                fresh.update(zip(chunk, vectors, strict=True))
    seconds = time.perf_counter() - started
    features = _gather(store, keys, fresh)
    report = FeatureReport(
        len(texts),
        len(unique),
        len(todo),
        len(unique) - len(todo),
        seconds,
        encoder_key,
        "ray" if on_ray else "local",
    )
    return (compute_normalized(features) if normalize else features), report


def _encode_locally(encoder, tokenizer, todo, unique, chunk_size, progress, encode):
    """Yield (keys, (n, D) vectors) per chunk of `todo` keys, encoded in this process."""
    started = time.perf_counter()
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start : start + chunk_size]
        on_batch = _progress_reporter(progress, start, len(todo), started)
        texts = [unique[k] for k in chunk]
        yield chunk, compute_text_features(encoder, tokenizer, texts, on_batch=on_batch, **encode)


def _progress_reporter(progress: Progress, start: int, total: int, started: float):
    """The per-batch callback of the chunk starting at `start` of `total` new texts."""

    def report(n: int) -> None:
        done = start + n
        rate = done / max(time.perf_counter() - started, 1e-9)
        eta = (total - done) / max(rate, 1e-9)
        progress(
            done / total,
            f"encoded {done:,} of {total:,} new texts ({rate:,.0f}/s, "
            f"about {format_duration(eta)} left)",
        )

    return report


def _gather(store: VectorStore, keys: list[str], fresh: dict[str, np.ndarray]) -> np.ndarray:
    """(N, D) float32 rows of `keys`: from `fresh` (encoded, not stored) or the store."""
    if not keys:
        return np.zeros((0, 0), np.float32)
    if not fresh:
        return store.get(keys).numpy().astype(np.float32, copy=False)
    stored = list(dict.fromkeys(k for k in keys if k not in fresh))
    rows = dict(fresh)
    if stored:
        rows.update(zip(stored, store.get(stored).numpy(), strict=True))
    return np.stack([rows[k] for k in keys]).astype(np.float32, copy=False)


def _write_shard(store: VectorStore, keys: list[str], vectors: np.ndarray) -> None:
    import torch

    store.write_shard(keys, torch.from_numpy(vectors))
