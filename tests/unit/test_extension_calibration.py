"""Calibration of synthesized rows without labels of the new class: the rules by hand, the
label-free contract (a class's own images never move its row), and the clear errors."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from extension.models import Head
from extension.specs import LooSpec
from extension.synthesis.calibration import (
    CalibrationImages,
    compute_calibrated_biases,
    compute_fit_folds,
    compute_fit_grid,
    compute_trained_z,
    list_calibrations,
)
from extension.synthesis.donors import compute_loo_rows, compute_new_rows
from extension.synthesis.loo import compute_calibration_images, load_labeled_images, run_loo
from extension.synthesis.methods import complete_spec, list_methods, resolve_method
from tests.extension_helpers import (
    TEXTS,
    TINY_MODEL,
    insert_texts,
    load_tiny_base_and_donors,
    write_images,
)

# 3 trained classes in 2-d; 5 calibration images.
HEAD = Head(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]), torch.tensor([0.0, 0.5, 0.0]))
FEATURES = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-1.0, 0.0], [3.0, 1.0]])
WNIDS = ("a", "b", "a", "c", "new")


def _images(features=FEATURES, wnids=WNIDS) -> CalibrationImages:
    return CalibrationImages(
        features, features @ HEAD.weight.T + HEAD.bias, wnids, "hand-made", HEAD
    )


@pytest.fixture
def text_con(catalog_con):
    insert_texts(catalog_con)
    return catalog_con


def test_zscore_and_share_by_hand():
    row = torch.tensor([[0.5, 0.5]])
    bias = torch.tensor([0.0])
    # Logits (a, b, c) per image: (2, .5, -2), (0, 2.5, -2), (1, 1.5, -2), (-1, .5, 1),
    # (3, 1.5, -4); the row's w.f: 1, 1, 1, -.5, 2. A new class competes with every trained row:
    # margins = max logit - w.f = 1, 1.5, .5, 1.5, 1; the image filed under 'new' is its own.
    margins = torch.tensor([1.0, 1.5, 0.5, 1.5], dtype=torch.float64)
    mean, std = margins.mean(), margins.std(unbiased=False)
    kwargs = dict(class_ids=["new"], replace=torch.tensor([-1]))
    z = compute_calibrated_biases(row, bias, "zscore", {"z": 1.0}, _images(), **kwargs)
    assert z.item() == pytest.approx(float(mean - std))
    share = compute_calibrated_biases(row, bias, "share", {"share": 0.0}, _images(), **kwargs)
    assert share.item() == pytest.approx(0.5)  # the smallest margin: wins no other image
    unchanged = compute_calibrated_biases(row, bias, "none", {}, None, **kwargs)
    assert unchanged.item() == 0.0
    # Leave-one-out of class 'a': a's trained row is replaced, not a competitor, and a's
    # images are excluded: margins of images b, c = max(.5 | 2.5, ...) - w.f.
    loo = compute_calibrated_biases(
        row, bias, "share", {"share": 0.0}, _images(), class_ids=["a"], replace=torch.tensor([0])
    )
    assert loo.item() == pytest.approx(min(2.5 - 1.0, 1.0 + 0.5, 1.5 - 2.0))


def test_trained_z_is_the_median_z_of_the_trained_biases():
    logits = FEATURES @ HEAD.weight.T + HEAD.bias
    expected = []
    for c in range(3):
        others = torch.cat([logits[:, :c], logits[:, c + 1 :]], dim=1).max(1).values
        margins = (others - (logits[:, c] - HEAD.bias[c])).double()
        expected.append(float((margins.mean() - HEAD.bias[c]) / margins.std(unbiased=False)))
    assert compute_trained_z(_images()) == pytest.approx(sorted(expected)[1])


def test_calibration_needs_images_and_an_image_of_another_class():
    row, bias = torch.tensor([[0.5, 0.5]]), torch.tensor([0.0])
    with pytest.raises(ValueError, match="--calibration-images"):
        compute_calibrated_biases(
            row, bias, "zscore", {"z": 1.0}, None, class_ids=["x"], replace=torch.tensor([-1])
        )
    only_own = _images(FEATURES[:2], ("x", "x"))
    with pytest.raises(ValueError, match="no image outside"):
        compute_calibrated_biases(
            row, bias, "zscore", {"z": 1.0}, only_own, class_ids=["x"], replace=torch.tensor([-1])
        )
    with pytest.raises(ValueError, match="known: "):
        complete_spec(replace(resolve_method("ridge-norm"), calibration="nope"))


def test_presets_list_calibrated_and_embedding_methods():
    from extension.synthesis.methods import list_default_methods

    names = list_methods()
    calibrated = [n for n in names if resolve_method(n).calibration != "none"]
    embedded = [n for n in names if "embedding" in resolve_method(n).features]
    assert calibrated and embedded
    assert {resolve_method(n).calibration for n in calibrated} <= set(list_calibrations())
    # The default row: calibrated on a user's set when one exists (embedding kernel when the
    # class texts are embedded), else on the built-in prototypes (no user image needed).
    for images in (True, False):
        for embeddings in (True, False):
            first = resolve_method(
                list_default_methods(calibration_images=images, embeddings=embeddings)[0]
            )
            assert first.calibration == ("zscore-fit" if images else "builtin-zscore-fit")
            assert ("embedding" in first.features) == embeddings


def test_deviation_rescale_is_the_same_with_the_head_gram(text_con):
    """The shortcut through the trained rows' Gram matrix gives the rows of the plain one."""
    from extension.synthesis.donors import compute_loo_inputs, compute_new_inputs
    from extension.synthesis.methods import compute_rows

    _, donors = load_tiny_base_and_donors(text_con)
    spec = resolve_method("ridge-deviation-idf-x1.5")
    for inputs in (
        compute_loo_inputs(donors, None, features="sqrt-idf")[0],
        compute_new_inputs(donors, ["a striped cat"], features="sqrt-idf")[0],
    ):
        assert inputs.weight_gram is not None
        plain = replace(
            inputs,
            weight_gram=None,
            variants={k: replace(v, weight_gram=None) for k, v in inputs.variants.items()},
        )
        torch.testing.assert_close(compute_rows(inputs, spec), compute_rows(plain, spec))


# A fine grid, so that a photo that entered the fit would move the chosen z.
FINE = (("z_max", 4.0), ("z_min", 0.0), ("z_step", 0.01))


@pytest.mark.parametrize(("calibration", "params"), [("zscore", ()), ("zscore-fit", FINE)])
def test_loo_row_ignores_its_own_calibration_images(text_con, tmp_path, calibration, params):
    """Label-free contract: the left-out class's own photos in the calibration set never move
    its row (nor, for a fitted rule, the z it gets), while they are unlabeled calibration
    photos for every other class."""
    base, donors = load_tiny_base_and_donors(text_con)
    wnids = sorted(TEXTS)
    folder = write_images(tmp_path / "calib", wnids, per_class=2)
    spec = replace(resolve_method("ridge-norm"), calibration=calibration, calibration_params=params)
    before = _calibration_biases(base, donors, folder, spec, tmp_path)
    # Replace the first class's photos by very different ones (another colour, other noise).
    target = wnids[0]
    for path in (folder / target).iterdir():
        path.unlink()
    write_images(tmp_path / "other", [target], per_class=3, size=56)
    for path in (tmp_path / "other" / target).iterdir():
        path.rename(folder / target / f"x-{path.name}")
    after = _calibration_biases(base, donors, folder, spec, tmp_path)
    assert after[0] == pytest.approx(before[0], abs=1e-6)
    assert max(abs(a - b) for a, b in zip(after[1:], before[1:], strict=True)) > 1e-4


def _calibration_biases(base, donors, folder, spec, tmp_path) -> list[float]:
    labeled = load_labeled_images(base, folder, cache_dir=tmp_path / "cache")
    images = compute_calibration_images(base, labeled, source=str(folder))
    _, biases = compute_loo_rows(donors, list(donors.wnids), spec, calibration=images)
    return biases.tolist()


def test_new_class_row_ignores_photos_filed_under_its_own_id(text_con):
    base, donors = load_tiny_base_and_donors(text_con)
    spec = replace(resolve_method("ridge-norm"), calibration="zscore")
    torch.manual_seed(0)
    features = torch.randn(12, base.head.weight.shape[1])
    wnids = tuple(["custom-cat"] * 4 + ["n01440764"] * 8)

    def bias_of(feats):
        images = CalibrationImages(
            feats, feats @ base.head.weight.T + base.head.bias, wnids, "test", base.head
        )
        texts = ["a striped cat with whiskers"]
        return compute_new_rows(donors, texts, spec, class_id="custom-cat", calibration=images)[
            1
        ].item()

    before = bias_of(features)
    own_changed = features.clone()
    own_changed[:4] = 10 * torch.randn(4, features.shape[1])
    assert bias_of(own_changed) == pytest.approx(before, abs=1e-6)
    others_changed = features.clone()
    others_changed[4:] = 3 * torch.randn(8, features.shape[1])
    assert bias_of(others_changed) != pytest.approx(before, abs=1e-4)


def test_run_loo_refuses_a_calibrated_method_without_or_on_the_scored_images(text_con, tmp_path):
    images = write_images(tmp_path / "images", sorted(TEXTS)[:3], per_class=2)
    method = replace(resolve_method("ridge-norm"), calibration="zscore")
    spec = LooSpec(methods=(method,), images_dir=str(images), model=TINY_MODEL, device="cpu")
    with pytest.raises(ValueError, match="is calibrated on unlabeled images: pass --calib"):
        run_loo(text_con, spec, cache_dir=tmp_path / "cache")
    same = replace(spec, calibration_images_dir=str(images))
    with pytest.raises(ValueError, match="must not be the scored"):
        run_loo(text_con, same, cache_dir=tmp_path / "cache")
    import shutil

    shutil.copytree(images, tmp_path / "copy")  # another folder, the same photos
    copy = replace(spec, calibration_images_dir=str(tmp_path / "copy"))
    with pytest.raises(ValueError, match="6 calibration photos are also in the scored"):
        run_loo(text_con, copy, cache_dir=tmp_path / "cache")
    calib = write_images(tmp_path / "calib", sorted(TEXTS), per_class=1, size=48)
    result = run_loo(
        text_con, replace(spec, calibration_images_dir=str(calib)), cache_dir=tmp_path / "cache"
    )
    summary = result["results"][0]
    assert summary["calibration_images"] == str(calib)
    assert list(summary)[:5] == ["method", "gen_precision", "pool_images", "gen_recall", "gen_f1"]
    assert summary["pool_images"] == 6  # the precision's pool: every scored photo (3 x 2)


def test_fit_grid_and_folds_by_hand():
    assert compute_fit_grid("zscore-fit", {"z_min": 2.0, "z_max": 3.0, "z_step": 0.25}) == [
        2.0,
        2.25,
        2.5,
        2.75,
        3.0,
    ]
    images = _images(wnids=("a", "b", "c", "d", "new"))
    # Rows of classes outside the set's base classes share a fit on all of them (their own
    # photos left out); the set's own classes get a fit on the other half (a, c | b, d).
    folds = compute_fit_folds(["new", "a", "b", "x"], images, {"a", "b", "c", "d", "x"})
    assert folds == [([0, 3], {"new", "x"}), ([1], {"a", "c"}), ([2], {"b", "d"})]


def test_fitted_z_is_the_grid_value_with_the_best_f1_on_the_set(text_con, tmp_path):
    from extension.evaluation.metrics import compute_thousand_way
    from extension.synthesis.calibration import compute_fitted_value
    from extension.synthesis.donors import compute_loo_inputs
    from extension.synthesis.methods import compute_rows

    base, donors = load_tiny_base_and_donors(text_con)
    folder = write_images(tmp_path / "calib", sorted(TEXTS), per_class=3)
    labeled = load_labeled_images(base, folder, cache_dir=tmp_path / "cache")
    images = compute_calibration_images(base, labeled, source="test")
    spec = resolve_method("ridge-norm")

    def synthesize(classes):
        inputs, _ = compute_loo_inputs(donors, classes)
        return (*compute_rows(inputs, spec), donors.class_indices[inputs.exclude])

    params = {"z_min": 0.0, "z_max": 3.0, "z_step": 0.5}
    chosen = compute_fitted_value("zscore-fit", params, images, synthesize, set(donors.wnids))
    classes = sorted(TEXTS)
    rows, biases, heads = synthesize(classes)
    positives = (labeled.labels[:, None] == heads[None, :]).numpy()
    f1 = {}
    for z in [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]:
        b = compute_calibrated_biases(
            rows, biases, "zscore", {"z": z}, images, class_ids=classes, replace=heads
        )
        scores = (labeled.features @ rows.T + b).double().numpy()
        way = compute_thousand_way(labeled.trained_logits.numpy(), scores, heads.numpy(), positives)
        f1[z] = float(way["f1"].mean())
    assert f1[chosen] == max(f1.values()) and chosen == min(z for z in f1 if f1[z] == f1[chosen])
    assert len(set(f1.values())) > 1  # the grid matters on this set
