"""Sentence embeddings of class texts: the third distance beside the paper's two.

A `encoders.text_encoder.TextEncoder` (offline default: the installed all-MiniLM-L6-v2, alias
`offline:all-MiniLM-L6-v2`; a local folder or a hub name already in the local cache otherwise)
mean-pools its token states over real tokens and normalizes, as sentence-transformers does
for MiniLM. Every text's vector comes from the one text-vector cache (`encoders.cache`, the
storage root's text-features/), keyed by encoder (name + weights hash), max_length and text,
so a text is encoded once per encoder, whoever asks first: the relevance features, the
caption search or these embeddings.

A class's vector (`ClassEmbeddings`) is the normalized mean of its texts' unit vectors, with
the active description weighted like all the captions together (`DESCRIPTION_WEIGHT`):
class texts are the same examples the token statistics use (`db.text_stats`). Embedding the
~61,000 default texts is a job (`run_embed_class_texts`, kind 'text-embeddings'); readers
load what is cached (`load_class_embeddings(..., embed_missing=False)`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import torch

from contract.progress import Progress, no_progress
from db import text_stats as stats_db
from db.storage import get_storage
from encoders.text_encoder import TextEncoder, load_text_encoder
from extension.specs import TextEmbeddingSpec

# A class vector: (1 - w) * mean of its caption vectors + w * its description vector. 0.5
# was chosen on Tiny-ImageNet (benchmarks/bench_loo.py embedding study), never on the
# full-size photo sets.
DESCRIPTION_WEIGHT = 0.5
# `TextEncoder` and `load_text_encoder` live in `encoders.text_encoder`; named here for callers.
__all__ = [
    "DESCRIPTION_WEIGHT",
    "ClassEmbeddings",
    "TextEncoder",
    "compute_pooled_vector",
    "get_class_embedding_state",
    "load_class_embeddings",
    "load_text_encoder",
    "run_embed_class_texts",
]


@dataclass(frozen=True)
class ClassEmbeddings:
    """Sentence vectors of the class texts.

    Attributes:
        wnids: (C,) class order.
        vectors: (C, E) unit class vectors (description and captions pooled).
        texts: (N,) every class text (description and captions).
        text_vectors: (N, E) their unit vectors.
        owner: (N,) row in `wnids` of each text's class.
        encoder_key: the encoder's key.
    """

    wnids: tuple[str, ...]
    vectors: torch.Tensor
    texts: tuple[str, ...]
    text_vectors: torch.Tensor
    owner: torch.Tensor
    encoder_key: str

    def select(self, wnids: list[str] | tuple[str, ...]) -> ClassEmbeddings:
        """The same embeddings restricted to (and ordered as) `wnids` (all must be present)."""
        index = {w: i for i, w in enumerate(self.wnids)}
        rows = torch.tensor([index[w] for w in wnids], dtype=torch.long)
        remap = torch.full((len(self.wnids),), -1, dtype=torch.long)
        remap[rows] = torch.arange(len(rows))
        keep = remap[self.owner] >= 0
        kept = torch.nonzero(keep).squeeze(1)
        return ClassEmbeddings(
            tuple(wnids),
            self.vectors[rows],
            tuple(self.texts[i] for i in kept.tolist()),
            self.text_vectors[kept],
            remap[self.owner[kept]],
            self.encoder_key,
        )


def compute_pooled_vector(
    vectors: torch.Tensor, is_description: torch.Tensor, *, weight: float = DESCRIPTION_WEIGHT
) -> torch.Tensor:
    """(E,) unit vector of one class from its texts' unit vectors (N, E).

    The description (when there is one, and captions besides) gets `weight`, the mean of the
    other texts `1 - weight`; otherwise all texts count equally.
    """
    desc, rest = vectors[is_description], vectors[~is_description]
    if len(desc) and len(rest):
        pooled = weight * desc.mean(0) + (1.0 - weight) * rest.mean(0)
    else:
        pooled = vectors.mean(0)
    return torch.nn.functional.normalize(pooled, dim=0)


def load_class_embeddings(
    con: duckdb.DuckDBPyConnection,
    encoder: TextEncoder,
    *,
    embed_missing: bool = True,
    progress: Progress | None = None,
) -> ClassEmbeddings | None:
    """Vectors of every base class with text (the token statistics' examples).

    Args:
        embed_missing: embed texts the cache lacks (in a job); False: return None when any
            text is not embedded yet (a page's script thread).
    """
    examples = stats_db.list_class_examples(con)
    if examples.is_empty():
        raise ValueError("No class texts: ingest captions or set class descriptions first.")
    examples = examples.with_row_index("i").sort("wnid", "i")
    texts = [t or "" for t in examples["text"].to_list()]
    if not embed_missing and not set(encoder.digests(texts)) <= encoder.store.known():
        return None
    text_vectors = encoder.embed(texts, progress)
    wnids = examples["wnid"].unique(maintain_order=True).to_list()
    owner_of = {w: i for i, w in enumerate(wnids)}
    owner = torch.tensor([owner_of[w] for w in examples["wnid"].to_list()], dtype=torch.long)
    is_desc = torch.tensor(examples["is_description"].to_list(), dtype=torch.bool)
    vectors = torch.stack(
        [
            compute_pooled_vector(text_vectors[owner == i], is_desc[owner == i])
            for i in range(len(wnids))
        ]
    )
    return ClassEmbeddings(tuple(wnids), vectors, tuple(texts), text_vectors, owner, encoder.key)


def get_class_embedding_state(con: duckdb.DuckDBPyConnection, encoder: TextEncoder) -> dict:
    """How many class texts the encoder's cache holds: {'n_texts', 'n_missing', 'state'}
    with state 'current' (all embedded), 'partial' or 'missing' (none)."""
    texts = [t or "" for t in stats_db.list_class_examples(con)["text"].to_list()]
    digests = set(encoder.digests(texts))
    n_missing = len(digests - encoder.store.known())
    state = "current" if not n_missing else ("missing" if n_missing == len(digests) else "partial")
    return {"n_texts": len(texts), "n_missing": n_missing, "state": state}


def run_embed_class_texts(
    con: duckdb.DuckDBPyConnection,
    spec: TextEmbeddingSpec | None = None,
    progress: Progress | None = None,
    *,
    cache_dir: Path | None = None,
) -> dict:
    """Job entry point: embed every class text the cache lacks (resumable per shard).

    Returns:
        {'encoder_key', 'n_classes', 'n_texts', 'seconds'}.
    """
    cache_dir = get_storage(con, cache_dir=cache_dir).cache
    from contract.devices import resolve_device

    spec, progress = spec or TextEmbeddingSpec(), progress or no_progress
    start = time.perf_counter()
    progress(0.0, f"loading the encoder {spec.encoder}")
    encoder = load_text_encoder(
        spec.encoder,
        cache_dir=cache_dir,
        device=resolve_device(spec.device),
        batch_size=spec.batch_size,
    )
    embeddings = load_class_embeddings(con, encoder, progress=progress)
    progress(1.0, f"{len(embeddings.texts):,} class texts embedded")
    return {
        "encoder_key": encoder.key,
        "n_classes": len(embeddings.wnids),
        "n_texts": len(embeddings.texts),
        "seconds": time.perf_counter() - start,
    }
