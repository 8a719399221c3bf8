"""Frozen mode: the paper's head on cached encoder features, cross-fitted.

The head is the paper's: dropout (0.25) -> Linear(D, C) -> sigmoid, trained with BCE on
one-hot targets, here on frozen mean-pooled encoder features (`features.py`) instead of the
fine-tuned encoder's. K-fold cross-fitting (as cleanlab's `find_label_issues` asks for)
trains K heads at once, head k on every caption outside fold k plus every class sentence,
so each caption's P(own class) comes from a head that never saw it. New captions (outside
the folds) are scored by the mean of the K heads (the mean of their logits: one linear map).

Features are L2-normalized and scaled by sqrt(D) before the head (the encoder was trained for
cosine similarity; on the default captions this beat per-dimension standardization by 0.11
top-1), and the biases start at the prior log(1 / (C - 1)) of a one-hot target, so the first
epoch already learns the classes instead of the negatives. torch is imported inside
functions.
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
    """K cross-fitted heads, on `compute_head_inputs` of the features.

    Attributes:
        weight: (K, C, D) one linear layer per fold. bias: (K, C).
    """

    weight: np.ndarray
    bias: np.ndarray

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


def compute_head_inputs(features: np.ndarray) -> np.ndarray:
    """(N, D) features L2-normalized and scaled by sqrt(D) (unit scale per dimension)."""
    features = np.asarray(features, dtype=np.float32)
    norms = np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    return features / norms * np.float32(np.sqrt(features.shape[1]))


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
        The heads after `spec.epochs` epochs (of `spec.resolve_passes(rows)` passes each).
    """
    import torch

    progress = progress or no_progress
    n_folds = spec.folds
    if len(folds) and (folds.min() < 0 or folds.max() >= n_folds):
        raise ValueError(f"folds must be in 0..{n_folds - 1}")
    x_all, y_all, fold_all = _stack_rows(features, labels, folds, extra_features, extra_labels)
    x = torch.from_numpy(compute_head_inputs(x_all))  # (N + M, D)
    y = torch.from_numpy(y_all.astype(np.int64))
    fold_ids = torch.from_numpy(fold_all.astype(np.int64))  # -1 = every head trains on it
    torch.manual_seed(seed)  # the dropout masks
    weight, bias = _initial_heads(n_folds, n_classes, x.shape[1])
    optimizer = torch.optim.AdamW(
        [weight, bias], lr=spec.learning_rate, weight_decay=spec.weight_decay
    )
    generator = torch.Generator().manual_seed(seed)
    n = len(labels)
    epochs, passes = spec.epochs, spec.resolve_passes(len(y))
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        train_loss = _train_epoch(
            (weight, bias),
            optimizer,
            (x, y, fold_ids),
            spec,
            dropout,
            generator,
            progress,
            (epoch, epochs, passes),
        )
        with torch.no_grad():
            test_loss, test_accuracy = _evaluate_folds(weight, bias, x[:n], y[:n], fold_ids[:n])
        if on_epoch is not None:
            on_epoch(
                epoch,
                {
                    "train_loss": train_loss,
                    "test_loss": test_loss,
                    "test_accuracy": test_accuracy,
                    "n_train_pairs": int((n_folds - 1) * n + (len(y) - n) * n_folds),
                    "seconds": time.perf_counter() - started,
                },
            )
    return FrozenHeads(weight.numpy().copy(), bias.numpy().copy())


def _initial_heads(n_folds: int, n_classes: int, dim: int):
    """Zero weights (K, C, D) and biases (K, C) at the prior log(1 / (C - 1)) of a one-hot
    target (gradients are written by hand in `_step`, so no autograd)."""
    import torch

    prior = float(np.log(1.0 / max(n_classes - 1, 1)))
    return torch.zeros(n_folds, n_classes, dim), torch.full((n_folds, n_classes), prior)


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


def _train_epoch(params, optimizer, data, spec, dropout, generator, progress, when) -> float:
    """`passes` passes over every row, each in a new random order; returns the mean training
    loss (of every 4th batch: computing it costs as much as a third of a step)."""
    import torch

    (weight, bias), (x, y, fold_ids), (epoch, epochs, passes) = params, data, when
    order = torch.cat([torch.randperm(len(y), generator=generator) for _ in range(passes)])
    heads = torch.arange(weight.shape[0])
    losses = []
    n_batches = max(1, -(-len(order) // spec.batch_size))
    for i, start in enumerate(range(0, len(order), spec.batch_size)):
        rows = order[start : start + spec.batch_size]
        xb = torch.nn.functional.dropout(x[rows], p=dropout, training=True)  # (B, D)
        mask = (fold_ids[rows][:, None] != heads[None, :]).float()  # (B, K): fold k held out
        loss = _step(weight, bias, optimizer, xb, y[rows], mask, with_loss=i % 4 == 0)
        if loss is not None:
            losses.append(loss)
            fraction = (epoch - 1 + (i + 1) / n_batches) / epochs
            progress(fraction, f"head epoch {epoch}/{epochs}, loss {loss:.5f}")
    return float(np.mean(losses)) if losses else float("nan")


def _step(weight, bias, optimizer, xb, labels, mask, *, with_loss: bool) -> float | None:
    """One AdamW step on the masked mean BCE of every head, with its gradient written out:
    d loss / d z = (sigmoid(z) - one_hot) * mask / (C * mask.sum()), one matmul each way
    (a third faster than autograd through softplus on a 2-core CPU)."""
    import torch

    n_folds, n_classes, dim = weight.shape
    with torch.no_grad():
        logits = torch.addmm(bias.reshape(-1), xb, weight.reshape(-1, dim).T)  # (B, K*C)
        logits = logits.view(-1, n_folds, n_classes)
        loss = None
        if with_loss:
            loss = float((_bce_one_hot(logits, labels) * mask).sum() / mask.sum().clamp(min=1))
        grad = torch.sigmoid_(logits)
        grad[torch.arange(len(labels)), :, labels] -= 1.0
        grad.mul_((mask / (n_classes * mask.sum().clamp(min=1.0)))[:, :, None])
        grad = grad.view(-1, n_folds * n_classes)  # (B, K*C)
        weight.grad = (grad.T @ xb).view(n_folds, n_classes, dim)
        bias.grad = grad.sum(dim=0).view(n_folds, n_classes)
    optimizer.step()
    return loss


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
    features: np.ndarray,
    labels: np.ndarray,
    heads: FrozenHeads,
    head_of_row: np.ndarray,
    *,
    keep_probs: bool = False,
) -> dict[str, np.ndarray]:
    """Each caption through its head (pure).

    Args:
        features: (N, D) raw features. labels: (N,) own-class rows.
        head_of_row: (N,) fold head to use, or MEAN_HEAD (-1) for the mean of the K heads.
        keep_probs: also return `probs`, the (N, C) float32 sigmoid outputs (for the
            label-quality scores of `issues.py`).

    Returns:
        (N,) arrays: p_own, p_mean (mean sigmoid over classes), suggested (argmax row),
        p_suggested, loss (BCE vs one-hot, mean over classes), correct (argmax == own).
    """
    import torch

    n = len(labels)
    out = {k: np.zeros(n, dtype=np.float64) for k in ("p_own", "p_mean", "p_suggested", "loss")}
    out["suggested"] = np.zeros(n, dtype=np.int64)
    if keep_probs:
        out["probs"] = np.zeros((n, heads.weight.shape[1]), dtype=np.float32)
    x = torch.from_numpy(compute_head_inputs(features))
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
    if "probs" in out:
        out["probs"][rows] = probs.numpy()


def save_frozen_heads(run_dir: str | Path, heads: FrozenHeads) -> tuple[str, str]:
    """Write the heads (atomically: temp file, then rename). Returns (path, sha256)."""
    import torch
    from safetensors.torch import save_file

    path = Path(run_dir) / HEADS_FILE
    tmp = path.with_name(path.name + ".tmp")
    tensors = {
        name: torch.from_numpy(np.ascontiguousarray(getattr(heads, name)))
        for name in ("weight", "bias")
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
    return FrozenHeads(data["weight"], data["bias"])
