"""Few-shot baseline: shot sampling, Adam training of a row, and the stored run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from extension.evaluation.fewshot import compute_shot_indices, compute_trained_row
from extension.specs import EvalSpec, FewShotSpec


def test_shot_sampling_respects_k_and_the_pool():
    labels = np.array(["a"] * 10 + ["b"] * 3 + ["c"] * 7)
    pool = np.setdiff1d(np.arange(20), [0, 1, 2])  # three of class a are held out for testing
    shots = compute_shot_indices(labels, pool, k=5, seed=4)
    counts = {w: int((labels[shots] == w).sum()) for w in "abc"}
    assert counts == {"a": 5, "b": 3, "c": 5}  # k per class, capped by what the pool holds
    assert not set(shots.tolist()) & {0, 1, 2}
    assert shots.tolist() == compute_shot_indices(labels, pool, k=5, seed=4).tolist()
    assert shots.tolist() != compute_shot_indices(labels, pool, k=5, seed=5).tolist()
    with pytest.raises(ValueError, match="at least 1"):
        compute_shot_indices(labels, pool, k=0, seed=0)


def test_adam_training_reduces_the_loss_and_separates():
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(60, 8, generator=gen)
    labels = features[:, 0] + 0.3 * torch.randn(60, generator=gen) > 0.8
    row, bias, losses = compute_trained_row(features, labels, steps=150, lr=0.05)
    assert losses[-1] < 0.5 * losses[0]
    assert row[0] == row.abs().max()  # it found the informative feature
    scores = features @ row + bias
    assert (scores[labels] > 0).float().mean() > 0.8 and (scores[~labels] < 0).float().mean() > 0.8


def test_training_starts_from_the_given_row():
    features = torch.eye(4)
    labels = torch.tensor([True, False, False, False])
    init = (torch.tensor([5.0, -5.0, -5.0, -5.0]), torch.tensor(0.0))
    _, _, from_init = compute_trained_row(features, labels, init, steps=1)
    _, _, from_zero = compute_trained_row(features, labels, steps=1)
    assert from_init[0] < 0.05 < from_zero[0]  # a good initial row starts with a low loss
    with pytest.raises(ValueError, match="both positives and negatives"):
        compute_trained_row(features, torch.ones(4, dtype=bool))


def test_specs_round_trip_through_json():
    spec = FewShotSpec(3, classes=("n01882714",), shots=(1, 5))
    assert FewShotSpec.from_json(spec.to_json()) == spec
    evaluation = EvalSpec(2, negative_sets=(4,), n=50)
    assert EvalSpec.from_json(evaluation.to_json()) == evaluation
    with pytest.raises(ValueError, match="unknown fields"):
        EvalSpec.from_dict({"image_set_id": 1, "bogus": 2})


def test_fewshot_run_on_photos(tmp_path):
    from curation.catalog import seed_imagenet1k
    from db import evaluation as eval_db
    from db.connect import connect
    from extension.evaluation.fewshot import run_fewshot
    from extension.images.sets import register_image_set
    from tests.unit.eval_helpers import (
        add_class_texts,
        donor_wnids,
        write_photo_folder,
        write_tiny_model,
    )

    photos = write_photo_folder(tmp_path / "photos")
    model = write_tiny_model(tmp_path / "tiny.safetensors")
    con = connect(tmp_path / "w.duckdb")
    try:
        seed_imagenet1k(con)
        add_class_texts(con, donor_wnids(sorted(p.name for p in photos.iterdir()), n=10))
        set_id = register_image_set(con, photos, name="photos")
        spec = FewShotSpec(
            set_id, classes=("n02123045",), shots=(1, 2), repeats=2, steps=30, model=model
        )
        result = run_fewshot(con, spec, cache_dir=tmp_path / "cache")
        stored = eval_db.list_fewshot_results(con, result["run_id"])
    finally:
        con.close()
    inits = set(stored["init"].to_list())
    assert inits == {"zeros", "paper-cosine", "trained"}
    assert sorted(set(stored["k"].to_list())) == [0, 1, 2]
    trained = stored.filter((stored["k"] > 0) & (stored["metric"] == "loss_end"))
    start = stored.filter((stored["k"] > 0) & (stored["metric"] == "loss_start"))
    assert (trained["value"].to_numpy() <= start["value"].to_numpy() + 1e-6).all()
    assert result["classes"]["n02123045"]["zeros"]["2"]["auroc"] == pytest.approx(
        stored.filter(
            (stored["init"] == "zeros") & (stored["k"] == 2) & (stored["metric"] == "auroc")
        )["value"].mean()
    )
