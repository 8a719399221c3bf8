"""`TextEncoder`: a loaded encoder bound to its folder of the text-vector cache, answering
unit vectors (the sentence embeddings: mean pooling, then L2 normalization, as
sentence-transformers does for MiniLM).

Its vectors are the cache's rows (`encoders.cache`), so a text the relevance features or the
caption search already encoded under the same encoder and max_length is read, not encoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from contract.progress import Progress, no_progress
from contract.storage import TEXT_FEATURES_FOLDER, resolve_cache_dir
from contract.vectors import VectorStore
from encoders.cache import compute_text_key, load_text_features, open_text_feature_store
from encoders.loading import compute_encoder_key, load_encoder
from encoders.registry import OFFLINE_ENCODER

_SHARD_TEXTS = 4096


@dataclass
class TextEncoder:
    """A sentence encoder reading and filling the text-vector cache.

    Attributes:
        name: what the user asked for (alias, local path or hub name).
        key: the encoder key (`compute_encoder_key`: name slug + weights hash; its folder).
        store: this encoder's folder of the cache.
        model, tokenizer: the loaded transformers objects (CPU or `device`).
        device: where batches run.
        max_length: longest input in tokens (longer texts are truncated; part of each key).
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

    def digests(self, texts: list[str]):
        """(N,) cache keys of the texts (`encoders.cache.compute_text_key`)."""
        return [compute_text_key(t, max_length=self.max_length) for t in texts]

    def embed(self, texts: list[str], progress: Progress | None = None, *, cache: bool = True):
        """(N, E) float32 unit vectors (a torch tensor), encoding only what the cache lacks.

        Args:
            cache: store what was encoded (class texts); False: read the cache but never
                write to it (a page's free text, which would leave a shard per keystroke).
        """
        import torch

        if not texts:
            return torch.zeros(0, self.dimension)
        progress = progress or no_progress
        n_new = len(set(self.digests(texts)) - self.store.known())
        if n_new and cache:
            progress(0.0, f"embedding {n_new:,} new texts (of {len(texts):,})")
        vectors, _ = load_text_features(
            self.model,
            self.tokenizer,
            texts,
            encoder_key=self.key,
            max_length=self.max_length,
            batch_size=self.batch_size,
            device=self.device,
            store=self.store,
            chunk_size=_SHARD_TEXTS,
            progress=progress,
            normalize=True,
            write=cache,
        )
        return torch.from_numpy(vectors)

    @property
    def dimension(self) -> int:
        return int(self.model.config.hidden_size)


def load_text_encoder(
    encoder: str = OFFLINE_ENCODER,
    *,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    max_length: int = 128,
    batch_size: int = 64,
) -> TextEncoder:
    """Load an encoder (offline: a local folder, an alias, or the local Hugging Face cache).

    Args:
        cache_dir: the storage root's cache folder (`db.storage.get_storage(con).cache`);
            its text-features/ folder holds the vectors. None: a database-less storage's.

    Raises:
        EncoderNotAvailableError: the encoder is not available offline (the message says how
            to get it).
    """
    model, tokenizer = load_encoder(encoder)
    model = model.to(device).eval()
    key = compute_encoder_key(encoder, model)
    folder = resolve_cache_dir(cache_dir) / TEXT_FEATURES_FOLDER
    store = open_text_feature_store(key, cache_dir=folder)
    return TextEncoder(encoder, key, store, model, tokenizer, device, max_length, batch_size)
