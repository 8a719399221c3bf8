"""Distances and synthesis methods against small hand-computed examples."""

from __future__ import annotations

import math

import pytest
import torch

from extension.specs import SynthesisSpec
from extension.synthesis.methods import (
    SynthesisInputs,
    compute_rows,
    describe_spec,
    list_methods,
    resolve_method,
)
from extension.text.distances import (
    compute_base_distances,
    compute_distances,
    compute_gram,
    compute_table1,
)

# 4 donor classes with 3-token text vectors; head rows in 2-d.
X = torch.tensor(
    [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]], dtype=torch.float64
)
W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -2.0]], dtype=torch.float64)
B = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)


def _inputs(query: torch.Tensor, exclude: int = -1) -> SynthesisInputs:
    gram = X @ X.T
    return SynthesisInputs(
        query[None] @ X.T, (query @ query)[None], gram, W, B, torch.tensor([exclude])
    )


def test_cosine_and_euclidean_by_hand():
    q = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    cross, qsq, bsq = q @ X.T, (q * q).sum(1), (X * X).sum(1)
    cos = compute_distances(cross, qsq, bsq, distance="cosine")[0]
    euc = compute_distances(cross, qsq, bsq, distance="euclidean")[0]
    torch.testing.assert_close(
        cos, torch.tensor([0.0, 1 - 1 / math.sqrt(2), 1.0, 1.0], dtype=torch.float64)
    )
    torch.testing.assert_close(
        euc, torch.tensor([0.0, 1.0, math.sqrt(2), math.sqrt(5)], dtype=torch.float64)
    )
    with pytest.raises(ValueError, match="known: "):
        compute_distances(cross, qsq, bsq, distance="manhattan")


def test_sparse_gram_equals_dense():
    torch.testing.assert_close(compute_gram(X.to_sparse()), X @ X.T)


def test_table1_excludes_the_class_itself():
    dist = compute_base_distances(X @ X.T, distance="euclidean")[1]  # class 1 vs all
    table = compute_table1({"euclidean": dist}, ["a", "b", "c", "d"], {"a": "A"}, exclude=1)
    row = table.row(0, named=True)
    assert row["closest"] == "A (a)" and row["closest_distance"] == pytest.approx(1.0)
    assert row["furthest"] == "d (d)" and row["furthest_distance"] == pytest.approx(math.sqrt(6))
    assert row["mean_distance"] == pytest.approx((1 + 1 + math.sqrt(6)) / 3)


def test_paper_rule_exactly():
    # Query [1, 1, 1] -> euclidean distances to donors: sqrt(2), 1, sqrt(2), sqrt(2).
    q = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    rows, bias = compute_rows(_inputs(q), SynthesisSpec("paper", "euclidean"))
    d = torch.tensor([math.sqrt(2), 1.0, math.sqrt(2), math.sqrt(2)], dtype=torch.float64)
    w = 1 / d
    w = torch.where(w < w.mean(), 0.0, w)  # only donor 1 (weight 1 > mean 0.78) survives
    assert torch.count_nonzero(w) == 1
    torch.testing.assert_close(rows[0].double(), (w @ W) / w.sum(), atol=1e-6, rtol=0)
    assert bias[0].item() == pytest.approx(0.2, abs=1e-6)


def test_paper_rule_two_survivors_and_excluded_donor_never_used():
    q = torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)
    inputs = _inputs(q, exclude=0)
    rows, bias = compute_rows(inputs, SynthesisSpec("paper", "cosine"))
    d = 1 - (X[1:] @ q) / (X[1:].norm(dim=1) * q.norm())
    w = 1 / d
    w = torch.where(w < w.mean(), 0.0, w)
    torch.testing.assert_close(rows[0].double(), (w @ W[1:]) / w.sum(), atol=1e-6, rtol=0)
    assert bias[0].item() == pytest.approx(float((w @ B[1:]) / w.sum()), abs=1e-6)
    # Changing the excluded donor's row changes nothing.
    changed = SynthesisInputs(
        inputs.cross,
        inputs.query_sq,
        inputs.gram,
        W.clone().index_fill_(0, torch.tensor([0]), 99.0),
        B,
        inputs.exclude,
    )
    torch.testing.assert_close(compute_rows(changed, SynthesisSpec("paper", "cosine"))[0], rows)


def test_topk_uniform_and_norm_rescaling():
    q = torch.tensor([1.0, 0.1, 0.0], dtype=torch.float64)
    rows, _ = compute_rows(_inputs(q), SynthesisSpec("topk", "euclidean", (("k", 2),)))
    torch.testing.assert_close(rows[0], ((W[0] + W[1]) / 2).float())
    rows, bias = compute_rows(
        _inputs(q, exclude=3), SynthesisSpec("topk", "euclidean", (("k", 2), ("rescale", "norm")))
    )
    target = W[:3].norm(dim=1).mean()  # donors other than the excluded one
    assert rows[0].norm().item() == pytest.approx(float(target), rel=1e-6)
    assert bias[0].item() == pytest.approx(float(B[:3].mean()), rel=1e-6)


def test_topk_inverse_weights_by_hand():
    # Query [1, 0, 0]: euclidean distances 0, 1, sqrt(2), sqrt(5); the excluded donor 0 is
    # not among the k = 2 nearest, so donors 1 and 2 with weights 1 and 1/sqrt(2).
    q = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    spec = SynthesisSpec("topk", "euclidean", (("k", 2), ("weighting", "inverse")))
    rows, bias = compute_rows(_inputs(q, exclude=0), spec)
    w1, w2 = 1.0, 1 / math.sqrt(2)
    expected = (w1 * W[1] + w2 * W[2]) / (w1 + w2)  # [-0.4142, 0.5858]
    torch.testing.assert_close(rows[0].double(), expected, atol=1e-6, rtol=0)
    assert bias[0].item() == pytest.approx((0.2 * w1 + 0.3 * w2) / (w1 + w2), abs=1e-6)


def test_softmax_weights_by_hand():
    q = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    rows, _ = compute_rows(
        _inputs(q), SynthesisSpec("softmax", "euclidean", (("temperature", 0.5),))
    )
    d = torch.tensor([0.0, 1.0, math.sqrt(2), math.sqrt(5)], dtype=torch.float64)
    median = torch.sort(d).values[1]  # torch's median of an even count is the lower middle
    w = torch.softmax(-d / (0.5 * median), 0)
    torch.testing.assert_close(rows[0].double(), w @ W, atol=1e-6, rtol=0)


def test_ridge_leave_one_out_equals_an_explicit_refit():
    torch.manual_seed(0)
    xs = torch.rand(12, 6, dtype=torch.float64)
    ws, bs = torch.randn(12, 3, dtype=torch.float64), torch.randn(12, dtype=torch.float64)
    gram = xs @ xs.T
    loo = SynthesisInputs(gram, torch.diagonal(gram), gram, ws, bs, torch.arange(12))
    spec = SynthesisSpec("ridge", "cosine", (("lam", 0.3),))
    rows, biases = compute_rows(loo, spec)
    for c in (0, 5, 11):
        keep = torch.tensor([i for i in range(12) if i != c])
        sub = xs[keep]
        one = SynthesisInputs(
            xs[c][None] @ sub.T,
            (xs[c] @ xs[c])[None],
            sub @ sub.T,
            ws[keep],
            bs[keep],
            torch.tensor([-1]),
        )
        r, b = compute_rows(one, spec)
        torch.testing.assert_close(rows[c], r[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(biases[c], b[0], atol=1e-5, rtol=1e-5)


def test_registry_names_and_errors():
    names = list_methods()
    assert {
        "paper-cosine",
        "paper-euclidean",
        "ridge-norm",
        "topk-norm-cosine",
        "softmax-norm-cosine",
    } <= set(names)
    assert describe_spec(resolve_method("paper-cosine")) == "paper-cosine"
    assert describe_spec(SynthesisSpec("topk", "cosine", (("k", 3),))).startswith("topk-cosine(")
    with pytest.raises(ValueError, match="known: "):
        resolve_method("nope")
    with pytest.raises(ValueError, match="no parameters"):
        compute_rows(_inputs(X[0]), SynthesisSpec("paper", "cosine", (("k", 3),)))
    with pytest.raises(ValueError, match="rescale"):
        compute_rows(_inputs(X[0]), SynthesisSpec("paper", "cosine", (("rescale", "big"),)))


def test_spec_json_round_trip_and_features_must_match():
    spec = resolve_method("ridge-norm-idf")
    assert SynthesisSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="sqrt-idf"):
        compute_rows(_inputs(X[0]), spec)  # inputs built with the paper's features


def test_table1_names_the_closest_and_furthest_class_but_never_itself():
    dist = {"cosine": torch.tensor([0.0, 0.2, 0.9, 0.5], dtype=torch.float64)}
    names = {"a": "alpha", "b": "beta", "c": "gamma", "d": "delta"}
    table = compute_table1(dist, ["a", "b", "c", "d"], names, exclude=0).row(0, named=True)
    assert table["closest"] == "beta (b)" and table["closest_distance"] == pytest.approx(0.2)
    assert table["furthest"] == "gamma (c)" and table["furthest_distance"] == pytest.approx(0.9)
    assert table["mean_distance"] == pytest.approx((0.2 + 0.9 + 0.5) / 3)


def test_paper_rule_three_survivors_weighted_by_inverse_distance():
    # Donors [p, 1] and query [0, 1]: the euclidean distance to each donor is exactly |p|.
    # Donor 3 (p = 0.5, the closest) is the excluded one (leave-one-out): it never counts,
    # neither in the weights nor in the mean the weights are cut at.
    p = [1.0, 2.0, 2.5, 0.5, 3.0, 50.0, 100.0]
    xs = torch.tensor([[v, 1.0] for v in p], dtype=torch.float64)
    ws = torch.tensor(
        [[19, 0], [0, 19], [19, 19], [99, 99], [-50, 7], [3, -80], [-60, -60]],
        dtype=torch.float64,
    )
    bs = torch.tensor([1.9, 3.8, 0.0, 99.0, -7.0, 11.0, 5.0], dtype=torch.float64)
    q = torch.tensor([0.0, 1.0], dtype=torch.float64)
    gram = xs @ xs.T
    inputs = SynthesisInputs(q[None] @ xs.T, (q @ q)[None], gram, ws, bs, torch.tensor([3]))
    rows, bias = compute_rows(inputs, SynthesisSpec("paper", "euclidean"))
    # 1/d over the 6 usable donors: 1, 0.5, 0.4, 1/3, 0.02, 0.01; mean 2.2633 / 6 = 0.3772.
    # Survivors 1, 0.5, 0.4 (1/3 is below the mean; it would pass a mean over 7 columns).
    # Weights 1/1.9, 0.5/1.9, 0.4/1.9:
    #   row  = (1 * [19, 0] + 0.5 * [0, 19] + 0.4 * [19, 19]) / 1.9 = [14, 9]
    #   bias = (1 * 1.9 + 0.5 * 3.8 + 0.4 * 0.0) / 1.9 = 2
    # (1/d^2 keeps donors 0 and 1 only: [15.2, 3.8]; no cut: every donor, another row.)
    torch.testing.assert_close(rows[0], torch.tensor([14.0, 9.0]), atol=1e-5, rtol=0)
    assert bias[0].item() == pytest.approx(2.0, abs=1e-5)


def test_paper_rule_equidistant_donors_all_survive_with_equal_weights():
    # Every donor at distance 1: every weight equals the mean and none is cut (the rule
    # drops weights strictly below the mean), so the row is the plain average.
    xs = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)
    ws = torch.tensor([[4.0, 0.0], [0.0, 4.0], [8.0, 8.0], [0.0, -4.0]], dtype=torch.float64)
    bs = torch.tensor([1.0, 2.0, 3.0, 6.0], dtype=torch.float64)
    q = torch.tensor([0.0, 1.0], dtype=torch.float64)
    inputs = SynthesisInputs(q[None] @ xs.T, (q @ q)[None], xs @ xs.T, ws, bs, torch.tensor([-1]))
    rows, bias = compute_rows(inputs, SynthesisSpec("paper", "euclidean"))
    torch.testing.assert_close(rows[0], torch.tensor([3.0, 2.0]), atol=1e-5, rtol=0)
    assert bias[0].item() == pytest.approx(3.0, abs=1e-5)
