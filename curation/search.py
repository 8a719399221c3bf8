"""Search captions by meaning: the query encoded with the encoder of the cached caption
features, ranked by exact cosine over every caption's feature (brute force).

The caption features are the frozen relevance cache (`curation.relevance.features`): one
vector per (encoder weights, max_length, caption text), where a caption's text is
`compute_caption_text(title, description, tags)`. `load_caption_index` reads the vectors of
every caption once into one L2-normalised float32 matrix (`CaptionIndex`); a query is one
matrix-vector product over it (449K x 384: about 0.7 GB, tens of ms), restricted to the
captions the usual filters match. Captions without a cached feature are counted
(`n_missing`) and computed by the `caption-features` job (`run_compute_caption_features`).
torch/transformers are imported only where an encoder runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from contract.devices import check_device_name
from contract.progress import Progress, no_progress
from contract.specs import JsonSpec
from curation.relevance.dataset import compute_caption_texts
from curation.relevance.decisions import list_filtered_caption_ids
from curation.relevance.specs import CaptionFilter
from db import explore as explore_db
from db import relevance as relevance_db
from db.storage import get_storage
from encoders.cache import compute_text_key, load_text_features, open_text_feature_store
from encoders.pooling import compute_text_features
from encoders.registry import OFFLINE_ENCODER

MAX_QUERY_CHARS = 2000
DEFAULT_TOP_K = 50


@dataclass(frozen=True)
class CaptionFeatureSpec(JsonSpec):
    """Compute (or find cached) the features of every caption, for search, duplicates, map.

    Attributes:
        encoder: HF name, local path or `OFFLINE_ENCODER` (the relevance default).
        max_length: tokens per text (part of the cache key: the relevance runs' 128).
        batch_size: texts per forward pass. cache_dir: '' = the storage root's text-features/.
    """

    encoder: str = OFFLINE_ENCODER
    max_length: int = 128
    batch_size: int = 64
    device: str = "auto"
    cache_dir: str = ""

    def __post_init__(self) -> None:
        check_device_name(self.device)
        if self.batch_size < 1 or self.max_length < 8:
            raise ValueError("need batch_size >= 1 and max_length >= 8")


@dataclass(frozen=True)
class CaptionIndex:
    """Every caption with a cached feature, as one normalised matrix.

    Attributes:
        caption_ids: (N,) int64, ascending. wnids: (N,) class of each row.
        matrix: (N, D) float32, rows of unit length.
        text_keys: (N,) the cache key of each row's text (equal keys = equal texts).
        n_missing: captions whose text has no cached feature yet.
        encoder_key: the cache folder (encoder name + weights hash).
    """

    caption_ids: np.ndarray
    wnids: np.ndarray
    matrix: np.ndarray
    text_keys: np.ndarray
    n_missing: int
    encoder_key: str
    rows: dict = field(default_factory=dict, repr=False)  # caption_id -> row

    def __post_init__(self) -> None:
        if not self.rows:
            ids = self.caption_ids.tolist()
            self.rows.update(zip(ids, range(len(ids)), strict=True))

    @property
    def size(self) -> int:
        return int(len(self.caption_ids))

    def vector_of(self, caption_id: int) -> np.ndarray:
        """(D,) the normalised feature of one caption ("more like this").

        Raises:
            ValueError: the caption has no cached feature.
        """
        row = self.rows.get(int(caption_id))
        if row is None:
            raise ValueError(
                f"Caption {caption_id} has no cached feature: compute the caption features."
            )
        return self.matrix[row]


def compute_normalized(vectors: np.ndarray) -> np.ndarray:
    """(N, D) float32 rows scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def check_query(text: object) -> str:
    """The query stripped of outer whitespace.

    Raises:
        ValueError: not text, empty, or longer than MAX_QUERY_CHARS characters.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("The search text is empty: type what the captions should be about.")
    text = text.strip()
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(
            f"The search text has {len(text):,} characters; at most {MAX_QUERY_CHARS:,} are "
            "used for a search (the encoder reads only its first 128 tokens anyway)."
        )
    return text


def list_caption_texts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """caption_id, wnid and the text the features are computed from, by caption_id."""
    records = relevance_db.list_caption_records(con)
    return records.select("caption_id", "wnid").with_columns(
        pl.Series("text", compute_caption_texts(records), pl.Utf8)
    )


def load_caption_index(
    con: duckdb.DuckDBPyConnection,
    *,
    encoder_key: str,
    max_length: int = 128,
    cache_dir: str | Path = "",
) -> CaptionIndex:
    """The cached features of every caption (those not cached yet are counted, not encoded).

    `cache_dir`: '' = the storage root's text-features/ (`db.storage.get_storage`).
    """
    texts = list_caption_texts(con)
    keys = np.array(
        [compute_text_key(t, max_length=max_length) for t in texts["text"]], dtype=object
    )
    store = open_text_feature_store(
        encoder_key, cache_dir=cache_dir or get_storage(con).text_features
    )
    known = store.known()
    found = np.fromiter((k in known for k in keys), dtype=bool, count=len(keys))
    unique = list(dict.fromkeys(keys[found].tolist()))
    vectors = store.get(unique).numpy() if unique else np.zeros((0, 1), np.float32)
    position = {k: i for i, k in enumerate(unique)}
    rows = np.fromiter((position[k] for k in keys[found]), dtype=np.int64, count=int(found.sum()))
    return CaptionIndex(
        caption_ids=texts["caption_id"].to_numpy()[found].astype(np.int64),
        wnids=texts["wnid"].to_numpy()[found],
        matrix=compute_normalized(vectors)[rows] if len(rows) else vectors[:0],
        text_keys=keys[found],
        n_missing=int((~found).sum()),
        encoder_key=encoder_key,
    )


def get_feature_store_state(encoder_key: str, *, cache_dir: str | Path):
    """What changes when the store gains vectors: its shard names (a cheap cache key)."""
    folder = Path(cache_dir) / encoder_key
    return tuple(sorted(p.name for p in folder.glob("shard-*.safetensors")))


def load_query_encoder(encoder_name: str = OFFLINE_ENCODER):
    """(encoder on the CPU, tokenizer, encoder key): what encodes queries like the captions."""
    from encoders.loading import compute_encoder_key, load_encoder

    encoder, tokenizer = load_encoder(encoder_name)
    return encoder, tokenizer, compute_encoder_key(encoder_name, encoder)


def encode_query(encoder, tokenizer, text: str, *, max_length: int = 128) -> np.ndarray:
    """(D,) the normalised feature of a query, computed as the captions' are."""
    vector = compute_text_features(encoder, tokenizer, [check_query(text)], max_length=max_length)
    return compute_normalized(vector)[0]


def compute_top_matches(
    matrix: np.ndarray, query: np.ndarray, *, rows: np.ndarray | None = None, top_k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The rows most similar to a query, best first (exact cosine: rows and query are unit).

    Args:
        matrix: (N, D) unit rows. query: (D,) unit vector.
        rows: (M,) row numbers to rank among (None = all).

    Returns:
        ((k,) row numbers, (k,) cosine similarities), k = min(top_k, candidates).
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    scores = matrix @ np.asarray(query, dtype=np.float32)  # (N,): cheaper than a row copy
    scores = scores if rows is None else scores[rows]  # (M,)
    k = min(int(top_k), len(scores))
    if k == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    picked = best if rows is None else np.asarray(rows)[best]
    return picked.astype(np.int64), scores[best]


def search_captions(
    con: duckdb.DuckDBPyConnection,
    index: CaptionIndex,
    query: np.ndarray,
    *,
    caption_filter: CaptionFilter | None = None,
    top_k: int = DEFAULT_TOP_K,
    exclude: tuple[int, ...] = (),
) -> pl.DataFrame:
    """The captions closest in meaning to a query vector, among those a filter matches.

    Args:
        query: (D,) unit vector (`encode_query`, or `index.vector_of` for more like this).
        caption_filter: class / source / substring / decision / score filters (None = all).
        exclude: caption ids left out (the caption itself, for more like this).

    Returns:
        rank, similarity, caption_id, wnid, class_name, source, filename, title, description,
        tags, decision (a person's, or null): best first.
    """
    rows = None
    if caption_filter is not None and caption_filter != CaptionFilter():
        allowed = np.asarray(list_filtered_caption_ids(con, caption_filter), np.int64)
        rows = np.flatnonzero(np.isin(index.caption_ids, allowed))
    if exclude:
        keep = ~np.isin(index.caption_ids, np.asarray(exclude, np.int64))
        rows = np.flatnonzero(keep) if rows is None else rows[keep[rows]]
    picked, scores = compute_top_matches(index.matrix, query, rows=rows, top_k=top_k)
    ids = index.caption_ids[picked]
    ranked = pl.DataFrame(
        {
            "rank": np.arange(1, len(ids) + 1),
            "similarity": np.round(scores, 4),
            "caption_id": ids,
        },
        schema={"rank": pl.Int64, "similarity": pl.Float32, "caption_id": pl.Int64},
    )
    details = explore_db.list_caption_details(con, ids.tolist())
    return ranked.join(details, on="caption_id", how="left").sort("rank")


def run_compute_caption_features(
    con: duckdb.DuckDBPyConnection, spec: CaptionFeatureSpec, progress: Progress | None = None
) -> dict:
    """Job entry point: encode every caption text the cache lacks (the relevance cache).

    Returns:
        The feature report (n_texts, n_unique, n_new, n_cached, encode_seconds, encoder_key).
    """
    from contract.devices import resolve_device
    from encoders.loading import compute_encoder_key, load_encoder

    if not isinstance(spec, CaptionFeatureSpec):
        raise ValueError(f"spec must be a CaptionFeatureSpec, got {type(spec).__name__}")
    progress = progress or no_progress
    texts = list_caption_texts(con)["text"].to_list()
    progress(0.0, f"loading encoder {spec.encoder}")
    device = resolve_device(spec.device)
    encoder, tokenizer = load_encoder(spec.encoder)
    encoder.to(device)
    _, report = load_text_features(
        encoder,
        tokenizer,
        texts,
        encoder_key=compute_encoder_key(spec.encoder, encoder),
        max_length=spec.max_length,
        batch_size=spec.batch_size,
        device=device,
        cache_dir=spec.cache_dir or get_storage(con).text_features,
        progress=progress,
    )
    progress(1.0, f"caption features ready: {report.n_new:,} encoded, {report.n_cached:,} cached")
    return report.to_dict()
