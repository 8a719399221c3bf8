"""Mean pooling, and the encoder pass over a list of texts (pure: no cache, no database).

A text's vector is the mean of the encoder's last hidden states over its non-padding tokens,
the text encoded alone (truncated to max_length tokens, special tokens included), in fp32:
the relevance features, the caption-search vectors and (normalized) the class-text
embeddings. torch is imported when used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from encoders.batching import compute_length_buckets, tokenize_texts


def compute_mean_pooling(hidden, mask):
    """Mean over the non-padding tokens.

    Args:
        hidden: (B, T, D) token states.
        mask: (B, T) attention mask, 1 for real tokens.

    Returns:
        (B, D) pooled features (zeros for an all-padding row).
    """
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    total = (hidden * weights).sum(dim=1)  # (B, D)
    return total / weights.sum(dim=1).clamp(min=1.0)


_OFFSET_POSITION_MODELS = ("roberta", "xlm-roberta", "camembert", "longformer")


def compute_usable_length(encoder, max_length: int) -> int:
    """`max_length` capped at the longest input the encoder has positions for (RoBERTa-like
    models start their positions after the padding index), so a small model truncates
    instead of failing on a long text."""
    config = encoder.config
    limit = getattr(config, "max_position_embeddings", None)
    if not limit:
        return max_length
    if getattr(config, "model_type", "") in _OFFSET_POSITION_MODELS:
        limit -= int(getattr(config, "pad_token_id", 0) or 0) + 1
    return max(1, min(int(max_length), int(limit)))


def compute_text_features(
    encoder,
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int = 128,
    device: str = "cpu",
    on_batch=None,
) -> np.ndarray:
    """Mean-pooled encoder features of each text alone, fp32 (not normalized).

    Texts are batched by length (little padding) and returned in input order.

    Args:
        encoder: a transformers encoder (e.g. `load_encoder(name)[0]`), on `device`.
        texts: (N,) strings.
        on_batch: called with the number of texts done after each batch (a job's progress,
            so a cancel acts within one batch, not one shard).

    Returns:
        (N, D) float32 features.
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    max_length = compute_usable_length(encoder, max_length)
    n, dim = len(texts), int(encoder.config.hidden_size)
    out = np.zeros((n, dim), dtype=np.float32)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n)
    encoder.eval()
    done = 0
    with torch.inference_mode():
        for rows in compute_length_buckets(lengths, batch_size=batch_size):
            enc = tokenize_texts(tokenizer, [texts[r] for r in rows], max_length=max_length)
            mask = enc["attention_mask"].to(device)
            hidden = encoder(input_ids=enc["input_ids"].to(device), attention_mask=mask)[0]
            out[rows] = compute_mean_pooling(hidden.float(), mask).cpu().numpy()  # (B, D)
            done += len(rows)
            if on_batch is not None:
                on_batch(done)
    return out
