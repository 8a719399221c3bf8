"""Vectorized metrics of synthesized rows on embedded images (all target classes at once).

Definitions (N images, T target classes):
- one-vs-rest: the row's logit ranks every image; positives are the class's own images.
  AUROC by ranks (ties broken arbitrarily), AP = mean precision at each positive.
- binary F1 at a threshold chosen without test labels: the row's logit quantile
  `1 - 1/K` over the image pool, K = number of classes in the pool (each class's prior share),
  so the row flags as many images as one class is expected to have.
- 1000-way test: the synthesized row replaces its class's trained row, and every image goes
  to the argmax. recall = top-1 share of its own images (top-5: within the 5 best),
  precision = own images among all images it wins (0 when it wins none), F1 from both.
"""

from __future__ import annotations

import torch


def compute_one_vs_rest(
    scores: torch.Tensor, positives: torch.Tensor, *, n_classes: int
) -> dict[str, torch.Tensor]:
    """AUROC, AP and threshold-rule F1 per column.

    Args:
        scores: (N, T) logits.
        positives: (N, T) bool, True for the column's own images (each column has some).
        n_classes: K, the number of classes in the image pool.

    Returns:
        dict of (T,) tensors `auroc`, `ap`, `f1`.
    """
    n, _ = scores.shape
    pos = positives.to(scores.dtype)
    n_pos = pos.sum(0)
    order = torch.argsort(scores, dim=0)
    ranks = torch.empty_like(scores)
    ranks.scatter_(
        0,
        order,
        torch.arange(1, n + 1, dtype=scores.dtype, device=scores.device)[:, None]
        .expand_as(scores)
        .contiguous(),
    )
    auroc = ((ranks * pos).sum(0) - n_pos * (n_pos + 1) / 2) / (n_pos * (n - n_pos))
    desc = torch.flip(order, dims=[0])
    hits = torch.gather(pos, 0, desc)
    precision_at = (
        torch.cumsum(hits, 0)
        / torch.arange(1, n + 1, dtype=scores.dtype, device=scores.device)[:, None]
    )
    ap = (precision_at * hits).sum(0) / n_pos
    return {
        "auroc": auroc,
        "ap": ap,
        "f1": compute_threshold_f1(scores, positives, n_classes=n_classes),
    }


def compute_threshold_f1(
    scores: torch.Tensor, positives: torch.Tensor, *, n_classes: int
) -> torch.Tensor:
    """(T,) F1 at the label-free threshold (quantile 1 - 1/K of each column's scores)."""
    threshold = torch.quantile(scores, 1.0 - 1.0 / max(n_classes, 1), dim=0)
    flagged = scores > threshold[None, :]
    return _f1(flagged, positives)


def _f1(flagged: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    tp = (flagged & positives).sum(0).double()
    precision = tp / flagged.sum(0).double().clamp_min(1)
    recall = tp / positives.sum(0).double().clamp_min(1)
    return torch.where(tp > 0, 2 * precision * recall / (precision + recall), torch.zeros_like(tp))


def compute_thousand_way(
    trained_logits: torch.Tensor,
    scores: torch.Tensor,
    replace: torch.Tensor,
    positives: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Each synthesized row competing with all other trained rows.

    Args:
        trained_logits: (N, C_all) logits of the full trained head.
        scores: (N, T) logits of the synthesized rows.
        replace: (T,) the head row each synthesized row replaces (its own class).
        positives: (N, T) bool own images.

    Returns:
        dict of (T,) tensors `top1`, `top5`, `precision`, `f1`.
    """
    top_vals, top_idx = torch.topk(trained_logits, min(6, trained_logits.shape[1]), dim=1)  # (N, 6)
    own = top_idx[:, None, :] == replace[None, :, None]  # (N, T, 6)
    beats = (top_vals[:, None, :] > scores[:, :, None]) & ~own
    rank = beats.sum(2)  # trained rows above the synthesized row, (N, T), capped at 6
    win = rank == 0
    n_pos = positives.sum(0).double().clamp_min(1)
    top1 = (win & positives).sum(0) / n_pos
    top5 = ((rank < 5) & positives).sum(0) / n_pos
    precision = (win & positives).sum(0).double() / win.sum(0).double().clamp_min(1)
    f1 = torch.where(top1 > 0, 2 * precision * top1 / (precision + top1), torch.zeros_like(top1))
    return {"top1": top1, "top5": top5, "precision": precision, "f1": f1}
