"""The built-in calibration (class prototypes from the trained rows and shipped photos) and
the neighbour-contrast synthesis method: by hand on tiny synthetic data, then end to end
with the tiny model (no user image set anywhere)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from extension.models import Head
from extension.specs import AddClassSpec, LooSpec
from extension.synthesis.builtin import compute_prototype_images, list_shipped_photos
from extension.synthesis.calibration import needs_calibration_images, uses_builtin_images
from extension.synthesis.loo import run_loo
from extension.synthesis.methods import list_default_methods, resolve_method
from extension.synthesis.new_class import run_add_class
from tests.extension_helpers import TINY_MODEL, insert_texts

C, D = 5, 9


@pytest.fixture
def text_con(catalog_con):
    insert_texts(catalog_con)
    return catalog_con


def _head() -> Head:
    """Rows e_0..e_4 in 9-d (bias 0); every class direction is its own axis."""
    return Head(torch.eye(C, D), torch.zeros(C))


def _mu() -> torch.Tensor:
    """The photos' mean: 1 on the class axes (equal logits), other axes positive."""
    return torch.cat([torch.ones(C), torch.tensor([0.5, 2.0, 1.0, 3.0])])


def test_prototypes_are_the_mean_plus_the_scaled_centred_rows():
    head, mu = _head(), _mu()
    centred = head.weight - head.weight.mean(0)
    photos = mu + 2.0 * centred  # one photo per class, no residual: alpha = 2 exactly
    images = compute_prototype_images(head, tuple("abcde"), photos, source="test")
    assert images.features.shape == (C, D)
    assert images.wnids == tuple("abcde")
    torch.testing.assert_close(images.features, (mu + 2.0 * centred).float())
    torch.testing.assert_close(images.trained_logits, images.features @ head.weight.T)
    assert images.trained_logits.argmax(1).tolist() == list(range(C))  # each its own class


def test_prototypes_carry_the_photos_residuals_and_stay_non_negative():
    head, mu = _head(), _mu()
    photos = mu + 2.0 * (head.weight - head.weight.mean(0))
    photos[0, C:] = torch.tensor([-5.0, 1.0, 0.0, 4.0])  # off the class axes: a residual
    photos[1, C:] = torch.tensor([2.0, 0.0, 7.0, 1.0])
    images = compute_prototype_images(head, tuple("abcde"), photos[:2], source="test")
    assert bool((images.features >= 0).all())  # pooled activations are never negative
    # The rows are 0 off the class axes, so there prototype c is the mean plus the residual
    # of photo c mod 2: that photo itself, clamped at 0.
    expected = photos[torch.arange(C) % 2][:, C:].clamp_min(0)
    torch.testing.assert_close(images.features[:, C:], expected)


def test_prototypes_refuse_no_photo_or_mismatched_shapes():
    with pytest.raises(ValueError, match="at least one real photo"):
        compute_prototype_images(_head(), tuple("abcde"), torch.zeros(0, D), source="x")
    with pytest.raises(ValueError, match="disagree"):
        compute_prototype_images(_head(), tuple("abc"), torch.ones(2, D), source="x")


def test_builtin_rule_needs_no_user_set_and_is_the_default_without_one():
    assert uses_builtin_images("builtin-zscore-fit")
    assert not needs_calibration_images("builtin-zscore-fit")
    assert needs_calibration_images("zscore-fit") and not uses_builtin_images("zscore-fit")
    for embeddings in (True, False):
        first = list_default_methods(calibration_images=False, embeddings=embeddings)[0]
        assert resolve_method(first).calibration == "builtin-zscore-fit"
    assert len(list_shipped_photos()) >= 20  # foolbox's 20 + scikit-image's


def test_loo_runs_the_builtin_calibration_without_calibration_images(text_con, tmp_path):
    method = replace(resolve_method("ridge-deviation-idf-builtin"), features="sqrt-idf")
    spec = LooSpec(methods=(method, resolve_method("ridge-norm")), model=TINY_MODEL, device="cpu")
    result = run_loo(text_con, spec, cache_dir=tmp_path / "cache")
    builtin, plain = result["results"]
    assert builtin["calibration_images"].startswith("built-in: 1000 class prototypes")
    assert plain["calibration_images"] is None
    biases = {r["bias"] for r in result["per_class"][builtin["method"]]}
    assert len(biases) > 1  # calibrated per row, not one shared value


def test_add_class_without_an_image_set_is_calibrated_on_the_builtin_set(text_con, tmp_path):
    spec = AddClassSpec(
        class_id="custom-house-cat",
        name="house cat",
        description="A small domestic cat with striped fur and whiskers, kept as a pet.",
        methods=(resolve_method("ridge-deviation-idf-builtin"), resolve_method("ridge-norm")),
        model=TINY_MODEL,
        device="cpu",
        actor="tester",
    )
    result = run_add_class(text_con, spec, cache_dir=tmp_path / "c")
    calibrated, plain = result["heads"]
    assert calibrated["calibration"] == "builtin-zscore-fit"
    from db import added_classes as added_db

    heads = added_db.list_synthesized_heads(text_con, wnid="custom-house-cat")
    row = heads.filter(heads["method_label"] == calibrated["method_label"]).to_dicts()[0]
    assert row["calibration_set_id"] is None
    assert json.loads(row["calibration_json"])["source"].startswith("built-in")
    assert calibrated["bias"] != pytest.approx(plain["bias"])


def test_contrast_zero_is_ridge_and_contrast_moves_the_row_off_its_neighbours(text_con):
    from extension.synthesis.donors import compute_loo_inputs
    from extension.synthesis.methods import compute_rows
    from tests.extension_helpers import load_tiny_base_and_donors

    _, donors = load_tiny_base_and_donors(text_con)
    inputs, _ = compute_loo_inputs(donors, None, features="sqrt-idf")
    ridge = resolve_method("ridge")
    plain = replace(ridge, method="ridge-contrast", params=(("contrast", 0.0), ("k", 2)))
    strong = replace(plain, params=(("contrast", 0.5), ("k", 2)))
    torch.testing.assert_close(compute_rows(inputs, plain)[0], compute_rows(inputs, ridge)[0])
    weight = donors.head.weight.double()
    left_out = inputs.exclude
    # (T, D) each query's donor mean: every trained row but its own (left-out) one
    center = (weight.sum(0) - weight[left_out]) / (len(weight) - 1)
    before = compute_rows(inputs, plain)[0].double() - center  # deviations from that mean
    after = compute_rows(inputs, strong)[0].double() - center
    cos = torch.nn.functional.cosine_similarity(
        before[:, None], weight[None] - center[:, None], dim=2
    )
    cos[torch.arange(len(before)), left_out] = -2.0  # never its own row
    nearest = torch.topk(cos, 2, dim=1).indices  # (T, 2) the row's two nearest neighbours
    neighbours = weight[nearest].mean(1) - center  # (T, D) their mean deviation
    # The row loses what it shares with its neighbours: exactly, before any rescale.
    assert bool(((after * neighbours).sum(1) < (before * neighbours).sum(1)).all())
