"""Token counts and batched inference of the relevance model over captions alone.

Tokenization and length-bucketed batches (`compute_length_buckets`, `tokenize_texts`) live in
`encoders.batching`, shared with every text encoder pass.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from encoders.batching import compute_length_buckets, tokenize_texts


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
