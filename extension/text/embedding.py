"""Sentence embeddings of class texts: the third distance beside the paper's two.

A `TextEncoder` wraps any Hugging Face encoder (offline default: the installed
all-MiniLM-L6-v2, alias `offline:all-MiniLM-L6-v2`; a local folder or a hub name already in
the local cache otherwise), mean-pools its token states over real tokens and normalizes, as
sentence-transformers does for MiniLM. Every text's vector is cached in a
`contract.vectors.VectorStore` under `<cache>/text-embeddings/<encoder key>/`, keyed by
sha256 of (encoder key, text), so a text is embedded once per encoder, whoever asks first.
The encoder key hashes the weights, the tokenizer and the pooling, never just the name.

A class's vector (`ClassEmbeddings`) is the normalized mean of its texts' unit vectors, with
the active description weighted like all the captions together (`DESCRIPTION_WEIGHT`):
class texts are the same examples the token statistics use (`db.text_stats`). Embedding the
~61,000 default texts is a job (`run_embed_class_texts`, kind 'text-embeddings'); readers
load what is cached (`load_class_embeddings(..., embed_missing=False)`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import torch

from contract.files import hash_bytes, hash_tensors
from contract.progress import Progress, no_progress
from contract.storage import resolve_cache_dir
from contract.vectors import VectorStore
from db import text_stats as stats_db
from db.storage import get_storage
from encoders.batching import tokenize_texts
from encoders.loading import load_encoder
from encoders.pooling import compute_mean_pooling
from extension.specs import DEFAULT_TEXT_ENCODER, TextEmbeddingSpec

# A class vector: (1 - w) * mean of its caption vectors + w * its description vector. 0.5
# was chosen on Tiny-ImageNet (benchmarks/bench_loo.py embedding study), never on the
# full-size photo sets.
DESCRIPTION_WEIGHT = 0.5
_SHARD_TEXTS = 4096


@dataclass
class TextEncoder:
    """A sentence encoder with a content-keyed vector cache.

    Attributes:
        name: what the user asked for (alias, local path or hub name).
        key: id of the exact weights, tokenizer and pooling (cache folder name).
        store: the cache of this encoder's text vectors.
        model, tokenizer: the loaded transformers objects (CPU or `device`).
        device: where batches run.
        max_length: longest input in tokens (longer texts are truncated).
        batch_size: texts per forward pass.
    """

    name: str
    key: str
    store: VectorStore
    model: object = field(repr=False)
    tokenizer: object = field(repr=False)
    device: str = "cpu"
    max_length: int = 128
    batch_size: int = 64

    def digests(self, texts: list[str]) -> list[str]:
        """(N,) cache keys: sha256 of (encoder key, text)."""
        return [compute_text_digest(self.key, t) for t in texts]

    def embed(
        self, texts: list[str], progress: Progress | None = None, *, cache: bool = True
    ) -> torch.Tensor:
        """(N, E) float32 unit vectors of the texts, embedding only what the cache lacks.

        Args:
            cache: store what was embedded (class texts); False: read the cache but never
                write to it (a page's free text, which would leave a shard per keystroke).
        """
        progress = progress or no_progress
        digests = self.digests(texts)
        known = self.store.known()
        todo = sorted({d: t for d, t in zip(digests, texts, strict=True) if d not in known}.items())
        if not texts:
            return torch.zeros(0, self.dimension)
        if not cache:
            vectors = self._compute([t for _, t in todo]) if todo else []
            found = dict(zip((d for d, _ in todo), vectors, strict=True))
            cached = [d for d in digests if d not in found]
            found.update(zip(cached, self.store.get(cached) if cached else [], strict=True))
            return torch.stack([found[d] for d in digests])
        if todo:
            progress(0.0, f"embedding {len(todo):,} new texts (of {len(texts):,})")
        for start in range(0, len(todo), _SHARD_TEXTS):
            chunk = todo[start : start + _SHARD_TEXTS]

            def _batch_done(n: int, start: int = start) -> None:  # a cancel acts per batch
                progress((start + n) / len(todo), f"embedded {start + n:,} of {len(todo):,}")

            vectors = self._compute([t for _, t in chunk], on_batch=_batch_done)
            self.store.write_shard([d for d, _ in chunk], vectors)
            done = start + len(chunk)
            progress(done / len(todo), f"embedded {done:,} of {len(todo):,} new texts")
        return self.store.get(digests)

    @property
    def dimension(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.no_grad()
    def _compute(self, texts: list[str], on_batch=None) -> torch.Tensor:
        """(N, E) unit vectors, batches of similar length (less padding).

        Args:
            on_batch: called with the number of texts done after each batch (a job's
                progress, so a cancel acts within one batch, not one shard).
        """
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.zeros(len(texts), self.dimension)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = tokenize_texts(
                self.tokenizer, [texts[i] for i in idx], max_length=self.max_length
            ).to(self.device)
            hidden = self.model(**batch).last_hidden_state  # (B, T, E)
            pooled = compute_mean_pooling(hidden, batch["attention_mask"]).float().cpu()
            out[idx] = torch.nn.functional.normalize(pooled, dim=1)
            if on_batch is not None:
                on_batch(start + len(idx))
        return out


def compute_text_digest(encoder_key: str, text: str) -> str:
    """Hex sha256 of (encoder key, text): the cache key of one text's vector."""
    return hash_bytes(encoder_key.encode("utf-8") + b"\x00" + text.encode("utf-8"))


def load_text_encoder(
    encoder: str = DEFAULT_TEXT_ENCODER,
    *,
    cache_dir: Path | None = None,
    device: str = "cpu",
    max_length: int = 128,
    batch_size: int = 64,
) -> TextEncoder:
    """Load an encoder (offline: a local folder, an alias, or the local Hugging Face cache).

    Raises:
        ValueError: the encoder is not available offline (the message says how to get it).
    """
    model, tokenizer = load_encoder(encoder)
    model = model.to(device).eval()
    tokenizer_json = tokenizer.backend_tokenizer.to_str() if tokenizer.is_fast else ""
    digest = hash_bytes(
        (hash_tensors(model.state_dict().items()) + tokenizer_json + f"|mean|{max_length}").encode()
    )
    key = f"{type(model).__name__.lower()}-{digest[:16]}"
    store = VectorStore(resolve_cache_dir(cache_dir) / "text-embeddings" / key, name=key)
    return TextEncoder(encoder, key, store, model, tokenizer, device, max_length, batch_size)


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
