"""Length-bucketed batches with dynamic padding, and batched inference over captions alone.

Sorting by length inside large shuffled chunks keeps padding small while batches stay random
from epoch to epoch (the usual "bucket iterator").
"""

from __future__ import annotations

from collections.abc import Callable

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


def compute_token_lengths(tokenizer, texts: list[str], *, chunk: int = 4096) -> np.ndarray:
    """(N,) token counts without special tokens and without truncation."""
    lengths = np.zeros(len(texts), dtype=np.int64)
    for start in range(0, len(texts), chunk):
        ids = tokenizer(texts[start : start + chunk], add_special_tokens=False)["input_ids"]
        lengths[start : start + len(ids)] = [len(x) for x in ids]
    return lengths


def compute_special_token_count(tokenizer, *, pair: bool = False) -> int:
    """Special tokens the tokenizer adds around one text (or a pair)."""
    return int(tokenizer.num_special_tokens_to_add(pair=pair))


def compute_caption_outputs(
    model,
    tokenizer,
    texts: list[str],
    labels: np.ndarray,
    *,
    batch_size: int,
    max_length: int,
    device: str,
    amp_dtype=None,
    progress: Callable[[float, str], None] | None = None,
    keep_probs: bool = False,
) -> dict[str, np.ndarray]:
    """Run the model on each caption alone (no class sentence).

    Args:
        labels: (N,) row of each caption's own class.
        keep_probs: also return `probs`, the (N, C) float32 sigmoid outputs.

    Returns:
        (N,) arrays: p_own (sigmoid of the own class), p_mean (mean sigmoid over classes),
        loss (BCE vs one-hot, mean over classes), correct (argmax == own class),
        suggested (argmax row) and p_suggested (its sigmoid), n_tokens (after truncation,
        with special tokens).
    """
    import torch

    n = len(texts)
    out = {k: np.zeros(n, dtype=np.float64) for k in ("p_own", "p_mean", "loss", "p_suggested")}
    out["correct"] = np.zeros(n, dtype=bool)
    out["suggested"] = np.zeros(n, dtype=np.int64)
    out["n_tokens"] = np.zeros(n, dtype=np.int32)
    if keep_probs:
        out["probs"] = np.zeros((n, model.num_classes), dtype=np.float32)
    char_lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n)
    batches = compute_length_buckets(char_lengths, batch_size=batch_size)
    model.eval()
    with torch.inference_mode():
        for i, rows in enumerate(batches):
            enc = tokenize_texts(tokenizer, [texts[r] for r in rows], max_length=max_length)
            enc = {k: enc[k].to(device) for k in ("input_ids", "attention_mask")}
            with torch.autocast("cuda", dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(**enc).float()  # (B, C)
            _store_batch(out, rows, logits, torch.as_tensor(labels[rows], device=device), enc)
            if progress is not None:
                progress((i + 1) / len(batches), f"batch {i + 1} of {len(batches)}")
    return out


def _store_batch(out: dict, rows: np.ndarray, logits, labels, enc) -> None:
    import torch
    import torch.nn.functional as F

    probs = torch.sigmoid(logits)  # (B, C)
    target = F.one_hot(labels.long(), logits.shape[1]).float()
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(dim=1)
    out["p_own"][rows] = probs.gather(1, labels.long()[:, None])[:, 0].cpu().numpy()
    out["p_mean"][rows] = probs.mean(dim=1).cpu().numpy()
    out["loss"][rows] = loss.cpu().numpy()
    best = probs.max(dim=1)
    out["suggested"][rows] = best.indices.cpu().numpy()
    out["p_suggested"][rows] = best.values.cpu().numpy()
    out["correct"][rows] = (best.indices == labels).cpu().numpy()
    out["n_tokens"][rows] = enc["attention_mask"].sum(dim=1).cpu().numpy()
    if "probs" in out:
        out["probs"][rows] = probs.float().cpu().numpy()
