"""LOO metrics against brute-force and hand-computed values."""

from __future__ import annotations

import itertools

import pytest
import torch

from extension.evaluation.metrics import (
    compute_one_vs_rest,
    compute_thousand_way,
    compute_threshold_f1,
)


def _brute_auroc(scores, positives):
    pos = [s for s, p in zip(scores, positives, strict=True) if p]
    neg = [s for s, p in zip(scores, positives, strict=True) if not p]
    return sum(p > n for p, n in itertools.product(pos, neg)) / (len(pos) * len(neg))


def test_auroc_and_ap_match_brute_force():
    torch.manual_seed(1)
    scores = torch.randn(40, 3, dtype=torch.float64)
    positives = torch.zeros(40, 3, dtype=torch.bool)
    positives[:10, 0], positives[10:25, 1], positives[25:, 2] = True, True, True
    out = compute_one_vs_rest(scores, positives, n_classes=3)
    for t in range(3):
        assert out["auroc"][t].item() == pytest.approx(
            _brute_auroc(scores[:, t].tolist(), positives[:, t].tolist())
        )
    # AP by hand: ranking [pos, neg, pos, neg] -> (1/1 + 2/3) / 2.
    ap = compute_one_vs_rest(
        torch.tensor([[4.0], [3.0], [2.0], [1.0]]),
        torch.tensor([[True], [False], [True], [False]]),
        n_classes=2,
    )["ap"]
    assert ap.item() == pytest.approx((1 + 2 / 3) / 2)


def test_threshold_f1_flags_a_class_share_of_images():
    # 2 classes, 4 images: threshold = median; the top 2 scores are flagged.
    scores = torch.tensor([[0.9], [0.8], [0.1], [0.7]], dtype=torch.float64)
    positives = torch.tensor([[True], [False], [True], [False]])
    # flagged = {0, 1}: tp 1, precision 1/2, recall 1/2 -> F1 0.5
    assert compute_threshold_f1(scores, positives, n_classes=2).item() == pytest.approx(0.5)


def test_thousand_way_recall_precision_by_hand():
    # 3 trained classes, 4 images; the synthesized row replaces class 0.
    trained = torch.tensor([[9.0, 1.0, 0.0], [9.0, 2.0, 0.0], [0.0, 5.0, 1.0], [0.0, 1.0, 5.0]])
    synth = torch.tensor([[3.0], [1.0], [6.0], [0.5]])  # its logits replace column 0
    positives = torch.tensor([[True], [True], [False], [False]])
    out = compute_thousand_way(trained, synth, torch.tensor([0]), positives)
    # image 0: 3 > max(1, 0) wins; image 1: 1 < 2 loses (rank 1);
    # image 2: 6 > 5 steals; image 3 loses.
    assert out["top1"].item() == pytest.approx(0.5)
    assert out["top5"].item() == pytest.approx(1.0)
    assert out["precision"].item() == pytest.approx(0.5)
    assert out["f1"].item() == pytest.approx(0.5)


def test_hit_at_k_by_hand():
    from extension.evaluation.metrics import compute_hit_at_k

    scores = torch.tensor(
        [[5.0, 1.0, 0.0], [1.0, 2.0, 3.0], [2.0, 2.0, 1.0], [0.0, 1.0, 2.0]]
    ).numpy()
    # true candidates: 0 (best), 0 (third), 1 (tied first: nothing strictly above), 0 (third)
    hits = compute_hit_at_k(scores, torch.tensor([0, 0, 1, 0]).numpy(), ks=(1, 2, 3))
    assert hits[1].tolist() == [True, False, True, False]
    assert hits[2].tolist() == [True, False, True, False]
    assert hits[3].tolist() == [True, True, True, True]
