"""Frozen mode: the paper's head on cached encoder features, cross-fitted.

The head is the paper's: dropout (0.25) -> Linear(D, C) -> sigmoid, trained with BCE on
one-hot targets, here on frozen mean-pooled encoder features (`features.py`) instead of the
fine-tuned encoder's. K-fold cross-fitting (as cleanlab's `find_label_issues` asks for)
trains K heads at once, head k on every caption outside fold k plus every class sentence,
so each caption's P(own class) comes from a head that never saw it. New captions (outside
the folds) are scored by the mean of the K heads (the mean of their logits: one linear map).

Features are standardized (training mean and standard deviation per dimension) before the
head; both are stored with the heads. torch is imported inside functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract.files import hash_file
from contract.progress import Progress, no_progress
from curation.relevance.specs import FrozenHeadSpec

HEADS_FILE = "heads.safetensors"
FOLDS_FILE = "folds.parquet"
MEAN_HEAD = -1  # head index of a caption no fold held out: the mean of the K heads
_SCORE_CHUNK = 8192


@dataclass(frozen=True)
class FrozenHeads:
    """K cross-fitted heads and the feature standardization they expect.

    Attributes:
        weight: (K, C, D) one linear layer per fold. bias: (K, C).
        center: (D,) subtracted from features. scale: (D,) features are divided by it.
    """

    weight: np.ndarray
    bias: np.ndarray
    center: np.ndarray
    scale: np.ndarray

    @property
    def n_folds(self) -> int:
        return int(self.weight.shape[0])


def compute_folds(labels: np.ndarray, *, folds: int, seed: int) -> np.ndarray:
    """A seeded fold per row, stratified by class: each class's rows, in a random order, are
    dealt to folds round-robin from a random starting fold.

    Args:
        labels: (N,) class row of each caption.

    Returns:
        (N,) int32 fold in 0..folds-1; each fold holds about 1/folds of every class.
    """
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]  # grouped by class, random inside
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    offset = rng.integers(folds, size=int(labels.max()) + 1 if len(labels) else 1)
    out = np.empty(len(labels), dtype=np.int32)
    out[order] = (rank + offset[sorted_labels]) % folds
    return out


def compute_standardization(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(D,) mean and (D,) standard deviation (floored at 1e-6) of (N, D) features."""
    center = features.mean(axis=0).astype(np.float32)
    scale = np.maximum(features.std(axis=0), 1e-6).astype(np.float32)
    return center, scale


def train_cross_fitted_heads(
    features: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    *,
    n_classes: int,
    spec: FrozenHeadSpec,
    dropout: float = 0.25,
    seed: int = 0,
    extra_features: np.ndarray | None = None,
    extra_labels: np.ndarray | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
    progress: Progress | None = None,
) -> FrozenHeads:
    """Train the K fold heads together (one matmul per batch for all of them).

    Args:
        features: (N, D) caption features. labels: (N,) class rows. folds: (N,) in 0..K-1.
        extra_features, extra_labels: (M, D), (M,) rows every head trains on (class
            sentences); never scored.
        on_epoch: called after each epoch with (epoch, metrics): train_loss, test_loss and
            test_accuracy (out of sample: each fold scored by its own head), n_train_pairs
            (rows seen by all heads), seconds.

    Returns:
        The heads after `spec.epochs` epochs.
    """
    import torch

    progress = progress or no_progress
    n_folds = spec.folds
    if len(folds) and (folds.min() < 0 or folds.max() >= n_folds):
        raise ValueError(f"folds must be in 0..{n_folds - 1}")
    x_all, y_all, fold_all = _stack_rows(features, labels, folds, extra_features, extra_labels)
    center, scale = compute_standardization(x_all)
    x = torch.from_numpy((x_all - center) / scale)  # (N + M, D)
    y = torch.from_numpy(y_all.astype(np.int64))
    fold_ids = torch.from_numpy(fold_all.astype(np.int64))  # -1 = every head trains on it
    torch.manual_seed(seed)
    weight = torch.zeros(n_folds, n_classes, x.shape[1], requires_grad=True)  # (K, C, D)
    bias = torch.zeros(n_folds, n_classes, requires_grad=True)  # (K, C)
    optimizer = torch.optim.AdamW(
        [weight, bias], lr=spec.learning_rate, weight_decay=spec.weight_decay
    )
    generator = torch.Generator().manual_seed(seed)
    n_scored = len(labels)
    for epoch in range(1, spec.epochs + 1):
        started = time.perf_counter()
        train_loss = _train_epoch(
            (weight, bias), optimizer, (x, y, fold_ids), spec, dropout, generator, progress, epoch
        )
        with torch.no_grad():
            test_loss, test_accuracy = _evaluate_folds(
                weight, bias, x[:n_scored], y[:n_scored], fold_ids[:n_scored]
            )
        metrics = {
            "train_loss": train_loss,
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
            "n_train_pairs": int((n_folds - 1) * n_scored + (len(y) - n_scored) * n_folds),
            "seconds": time.perf_counter() - started,
        }
        if on_epoch is not None:
            on_epoch(epoch, metrics)
    return FrozenHeads(weight.detach().numpy().copy(), bias.detach().numpy().copy(), center, scale)


def _stack_rows(features, labels, folds, extra_features, extra_labels):
    if extra_features is None or len(extra_features) == 0:
        return features.astype(np.float32), np.asarray(labels), np.asarray(folds)
    x = np.concatenate([features, extra_features]).astype(np.float32)
    y = np.concatenate([labels, extra_labels])
    return x, y, np.concatenate([folds, np.full(len(extra_labels), -1, dtype=np.int32)])


def _bce_one_hot(logits, labels):
    """Mean BCE over the classes against one-hot targets: (softplus(z).sum - z_y) / C.

    logits (B, K, C), labels (B,) -> (B, K).
    """
    import torch.nn.functional as F

    own = logits.gather(2, labels[:, None, None].expand(-1, logits.shape[1], 1))[..., 0]
    return (F.softplus(logits).sum(dim=2) - own) / logits.shape[2]


def _train_epoch(params, optimizer, data, spec, dropout, generator, progress, epoch) -> float:
    """One pass over every row in a random order; returns the mean training loss."""
    import torch
    import torch.nn.functional as F

    (weight, bias), (x, y, fold_ids) = params, data

    n_folds, n_classes, dim = weight.shape
    order = torch.randperm(len(y), generator=generator)
    heads = torch.arange(n_folds)
    total, count = 0.0, 0.0
    n_batches = max(1, -(-len(y) // spec.batch_size))
    for i, start in enumerate(range(0, len(y), spec.batch_size)):
        rows = order[start : start + spec.batch_size]
        xb = F.dropout(x[rows], p=dropout, training=True)  # (B, D)
        logits = (xb @ weight.reshape(n_folds * n_classes, dim).T).view(-1, n_folds, n_classes)
        losses = _bce_one_hot(logits + bias, y[rows])  # (B, K)
        mask = (fold_ids[rows][:, None] != heads[None, :]).float()  # (B, K): fold k held out
        loss = (losses * mask).sum() / mask.sum().clamp(min=1.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * float(mask.sum())
        count += float(mask.sum())
        if i % 20 == 0:
            fraction = (epoch - 1 + (i + 1) / n_batches) / spec.epochs
            progress(fraction, f"head epoch {epoch}/{spec.epochs}, loss {float(loss):.5f}")
    return total / max(count, 1.0)


def _evaluate_folds(weight, bias, x, y, fold_ids) -> tuple[float, float]:
    """Out-of-sample mean BCE and top-1 accuracy: fold k's rows through head k."""
    losses, correct = [], []
    for k in range(weight.shape[0]):
        rows = (fold_ids == k).nonzero()[:, 0]
        for start in range(0, len(rows), _SCORE_CHUNK):
            part = rows[start : start + _SCORE_CHUNK]
            logits = x[part] @ weight[k].T + bias[k]  # (B, C)
            losses.append(_bce_one_hot(logits[:, None, :], y[part])[:, 0])
            correct.append(logits.argmax(dim=1) == y[part])
    if not losses:
        return float("nan"), float("nan")
    import torch

    return float(torch.cat(losses).mean()), float(torch.cat(correct).float().mean())


def compute_head_outputs(
    features: np.ndarray, labels: np.ndarray, heads: FrozenHeads, head_of_row: np.ndarray
) -> dict[str, np.ndarray]:
    """Each caption through its head (pure).

    Args:
        features: (N, D) raw features. labels: (N,) own-class rows.
        head_of_row: (N,) fold head to use, or MEAN_HEAD (-1) for the mean of the K heads.

    Returns:
        (N,) arrays: p_own, p_mean (mean sigmoid over classes), suggested (argmax row),
        p_suggested, loss (BCE vs one-hot, mean over classes), correct (argmax == own).
    """
    import torch

    n = len(labels)
    out = {k: np.zeros(n, dtype=np.float64) for k in ("p_own", "p_mean", "p_suggested", "loss")}
    out["suggested"] = np.zeros(n, dtype=np.int64)
    x = torch.from_numpy(((features - heads.center) / heads.scale).astype(np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    weight, bias = torch.from_numpy(heads.weight), torch.from_numpy(heads.bias)
    with torch.no_grad():
        for head in np.unique(head_of_row):
            w = weight.mean(0) if head == MEAN_HEAD else weight[head]  # (C, D)
            b = bias.mean(0) if head == MEAN_HEAD else bias[head]  # (C,)
            rows = np.flatnonzero(head_of_row == head)
            for start in range(0, len(rows), _SCORE_CHUNK):
                part = rows[start : start + _SCORE_CHUNK]
                _store_outputs(out, part, x[part] @ w.T + b, y[part])
    out["correct"] = out["suggested"] == np.asarray(labels)
    return out


def _store_outputs(out: dict, rows: np.ndarray, logits, labels) -> None:
    import torch

    probs = torch.sigmoid(logits)  # (B, C)
    best = probs.max(dim=1)
    out["p_own"][rows] = probs.gather(1, labels[:, None])[:, 0].numpy()
    out["p_mean"][rows] = probs.mean(dim=1).numpy()
    out["p_suggested"][rows] = best.values.numpy()
    out["suggested"][rows] = best.indices.numpy()
    out["loss"][rows] = _bce_one_hot(logits[:, None, :], labels)[:, 0].numpy()


def save_frozen_heads(run_dir: str | Path, heads: FrozenHeads) -> tuple[str, str]:
    """Write the heads (atomically: temp file, then rename). Returns (path, sha256)."""
    import torch
    from safetensors.torch import save_file

    path = Path(run_dir) / HEADS_FILE
    tmp = path.with_name(path.name + ".tmp")
    tensors = {
        name: torch.from_numpy(np.ascontiguousarray(getattr(heads, name)))
        for name in ("weight", "bias", "center", "scale")
    }
    save_file(tensors, str(tmp))
    tmp.replace(path)
    return str(path), hash_file(path)


def load_frozen_heads(path: str | Path, *, expected_sha256: str | None = None) -> FrozenHeads:
    """Read heads written by `save_frozen_heads`.

    Raises:
        FileNotFoundError: the file is gone. ValueError: its sha256 differs from the record.
    """
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"frozen heads {path} are missing (deleted or moved)")
    if expected_sha256 and hash_file(path) != expected_sha256:
        raise ValueError(f"{path} changed since it was recorded (sha256 differs): refusing it")
    data = load_file(str(path))
    return FrozenHeads(data["weight"], data["bias"], data["center"], data["scale"])
