"""Where a synthesized class lands on a photo (`extension.synthesis.drafts`)."""

import torch

from extension.models import Head
from extension.synthesis.drafts import compute_new_class_ranks, compute_top_classes


def test_the_new_class_rank_and_probability_match_the_full_softmax():
    base = Head(torch.eye(3), torch.zeros(3))  # classes 0, 1, 2
    added = Head(torch.tensor([[0.0, 0.0, 0.5]]), torch.zeros(1))
    features = torch.tensor([[0.0, 0.0, 2.0], [0.0, 0.0, -1.0], [3.0, 0.0, 0.0]])
    ranks = compute_new_class_ranks(features, base, added)
    # Photo 1: logits [0, 0, 2, 1] -> the new class is second; photo 2: [0, 0, -1, -.5] ->
    # third; photo 3: [3, 0, 0, 0] -> tied with two base classes, after class 0: second.
    assert [r for r, _ in ranks] == [2, 3, 2]
    logits = torch.tensor([0.0, 0.0, 2.0, 1.0])
    assert abs(ranks[0][1] - float(torch.softmax(logits, 0)[3])) < 1e-4
    top = compute_top_classes(features, base, added, ["a", "b", "c", "NEW"], k=4)
    assert [name for name, _ in top[0]].index("NEW") + 1 == ranks[0][0]
