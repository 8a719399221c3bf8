"""Tokenization and length-bucketed batches with dynamic padding.

Sorting by length inside large shuffled chunks keeps padding small while batches stay random
from epoch to epoch (the usual "bucket iterator"); without a generator, batches are sorted by
length (inference: the least padding).
"""

from __future__ import annotations

import numpy as np

BUCKET_CHUNK_BATCHES = 50


def compute_length_buckets(
    lengths: np.ndarray, *, batch_size: int, rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """Split positions 0..N-1 into batches of similar length.

    Args:
        lengths: (N,) token counts.
        rng: shuffles items before chunking and batches afterwards; None = sorted, in order
            (inference).

    Returns:
        Batches of positions; together they cover every position once.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(lengths)
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    order = rng.permutation(n)
    chunk = batch_size * BUCKET_CHUNK_BATCHES
    batches = []
    for start in range(0, n, chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def tokenize_texts(tokenizer, texts: list[str], *, max_length: int) -> dict:
    """PyTorch encodings of `texts` (B,), truncated to `max_length` tokens and padded to the
    longest: input_ids and attention_mask, each (B, T) with T <= max_length."""
    return tokenizer(
        texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt"
    )
