"""Adding a class from text (tiny random timm model): draft, keep, discard, export, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from db import added_classes as added_db
from db import classes as class_db
from db.storage import get_storage
from extension.models import get_head, load_base_model
from extension.specs import AddClassSpec, ExportSpec
from extension.synthesis.export import run_export
from extension.synthesis.methods import resolve_method
from extension.synthesis.new_class import (
    compute_preview,
    discard_added_class,
    keep_added_class,
    run_add_class,
)
from tests.extension_helpers import TINY_MODEL, insert_texts, load_tiny_base_and_donors

DESCRIPTION = "A small domestic cat with striped fur and whiskers, kept as a pet."


@pytest.fixture
def text_con(catalog_con):
    insert_texts(catalog_con)
    return catalog_con


def _spec(**kw) -> AddClassSpec:
    base = dict(
        class_id="custom-house-cat",
        name="house cat",
        description=DESCRIPTION,
        texts=("a cat sleeping on a sofa",),
        methods=(resolve_method("ridge-norm"), resolve_method("paper-cosine")),
        model=TINY_MODEL,
        device="cpu",
        actor="tester",
    )
    return AddClassSpec(**{**base, **kw})


def test_a_new_class_is_synthesized_from_its_name_and_description_like_a_base_class():
    from extension.synthesis.new_class import compute_class_texts

    assert compute_class_texts("house cat.", "A small pet.", ["a cat on a sofa"]) == [
        "house cat. A small pet.",
        "a cat on a sofa",
    ]
    assert compute_class_texts("  ", "A small pet.") == ["A small pet."]


def test_preview_finds_the_cats_first(text_con):
    _, donors = load_tiny_base_and_donors(text_con)
    preview = compute_preview(donors, [DESCRIPTION], k=3)
    assert set(preview.nearest["cosine"]["name"].to_list()) <= {
        "tabby",
        "tiger cat",
        "Egyptian cat",
    }
    assert set(preview.table1["distance"].to_list()) == {"cosine", "euclidean"}


def test_add_keep_export_reload_in_plain_timm(text_con, tmp_path):
    result = run_add_class(text_con, _spec())
    assert result["wnid"] == "custom-house-cat" and len(result["heads"]) == 2
    assert set(result["nearest"]) == {"cosine", "euclidean"}
    assert result["nearest"]["cosine"][0]["wnid"] in {"n02123045", "n02123159", "n02124075"}
    draft = added_db.get_added_class(text_con, "custom-house-cat")
    assert (
        draft["status"] == "draft"
        and json.loads(draft["spec_json"])["methods"][0]["method"] == "ridge"
    )
    assert class_db.get_class(text_con, "custom-house-cat") is None  # not in the catalog until kept
    keep_added_class(text_con, "custom-house-cat", primary_method="ridge-norm")
    assert class_db.get_class(text_con, "custom-house-cat")["origin"] == "custom"

    out = run_export(text_con, ExportSpec(out_dir=str(tmp_path / "export"), model=TINY_MODEL))
    assert out["num_classes"] == 1001
    import timm
    from safetensors.torch import load_file

    plain = timm.create_model("test_efficientnet", num_classes=1001, pretrained=False)
    plain.load_state_dict(load_file(str(tmp_path / "export" / "model.safetensors")), strict=True)
    plain.eval()
    base = load_base_model(TINY_MODEL)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits = plain(x)
        torch.testing.assert_close(logits[:, :1000], base(x))
    row = added_db.list_synthesized_heads(text_con, wnid="custom-house-cat").filter("is_primary")
    from extension.synthesis.new_class import load_head_file

    head = load_head_file(Path(row["path"][0]), sha256=row["sha256"][0])
    with torch.no_grad():
        features = plain.forward_head(plain.forward_features(x), pre_logits=True)
    torch.testing.assert_close(logits[:, 1000], (features @ head.weight.T + head.bias)[:, 0])
    again = timm.create_model(f"local-dir:{tmp_path / 'export'}", pretrained=True).eval()
    assert again.num_classes == 1001
    assert again.pretrained_cfg["label_names"][-1] == "custom-house-cat"
    with torch.no_grad():
        torch.testing.assert_close(again(x), logits, atol=0, rtol=0)
    classes = json.loads((tmp_path / "export" / "classes.json").read_text())
    assert classes[-1]["name"] == "house cat" and len(classes) == 1001
    config = json.loads((tmp_path / "export" / "config.json").read_text())
    assert config["added_classes"] == [
        {
            "index": 1000,
            "wnid": "custom-house-cat",
            "name": "house cat",
            "description": DESCRIPTION,
            "texts": ["a cat sleeping on a sofa"],
            "method": "ridge-norm",
        }
    ]
    assert config["label_descriptions"] == {"custom-house-cat": DESCRIPTION}
    provenance = (tmp_path / "export" / "provenance.json").read_text()
    (added,) = json.loads(provenance)["added"]
    assert added["wnid"] == "custom-house-cat" and added["row_file"].endswith(".safetensors")
    assert str(tmp_path) not in provenance  # no server path leaves with the export


def test_bad_input_stores_nothing(text_con, tmp_path):
    heads = get_storage(text_con).heads
    with pytest.raises(ValueError, match="no usable tokens"):
        run_add_class(
            text_con, _spec(class_id="custom-zq", name="zq", description="zzzq 1234 !!", texts=())
        )
    with pytest.raises(ValueError, match="already in the catalog"):
        run_add_class(text_con, _spec(class_id="n01440764"))
    with pytest.raises(ValueError, match="Invalid class id"):
        run_add_class(text_con, _spec(class_id="House Cat"))
    with pytest.raises(ValueError, match="Unknown timm model"):
        run_add_class(
            text_con,
            _spec(model=TINY_MODEL.__class__(name="no_such_net", pretrained=False)),
        )
    assert added_db.list_added_classes(text_con).is_empty()
    assert not any(heads.rglob("*.safetensors")) if heads.exists() else True
    run_add_class(text_con, _spec())
    with pytest.raises(ValueError, match="already added"):
        run_add_class(text_con, _spec())


def test_a_failure_after_the_first_row_leaves_no_file_and_no_draft(text_con, tmp_path):
    heads = get_storage(text_con).heads
    # The second method's file name is taken by a folder: writing it fails after the first
    # row was written, so the first file must be removed again and no draft recorded.
    (heads / "custom-house-cat" / "paper-cosine.safetensors").mkdir(parents=True)
    with pytest.raises(OSError):
        run_add_class(text_con, _spec())
    assert not list(heads.rglob("*.safetensors*"))[1:]  # only the blocking folder is left
    assert not (heads / "custom-house-cat" / "ridge-norm.safetensors").exists()
    assert added_db.list_added_classes(text_con).is_empty()


def test_keeping_a_class_makes_its_typed_text_its_description(text_con):
    from curation import descriptions as desc

    run_add_class(text_con, _spec())
    keep_added_class(text_con, "custom-house-cat", actor="keeper")
    active = desc.get_active_description(text_con, "custom-house-cat")
    assert (active["text"], active["source"], active["revision"]) == (DESCRIPTION, "manual", 1)
    history = desc.list_description_history(text_con, "custom-house-cat")
    assert history["actor"].to_list() == ["tester"]  # who typed it, in the edit history


def test_a_chosen_description_is_not_replaced_by_typed_text(text_con):
    from curation import descriptions as desc

    tench = "n01440764"
    desc.update_active_description(text_con, tench, text="Chosen by a curator.", actor="ann")
    assert desc.adopt_typed_description(text_con, tench, text="typed", actor="bob") is None
    assert desc.get_active_description(text_con, tench)["text"] == "Chosen by a curator."
    desc.clear_active_description(text_con, tench, actor="ann")  # revision 2, none active
    change = desc.adopt_typed_description(text_con, tench, text="typed", actor="bob")
    assert change.revision == 3
    assert desc.get_active_description(text_con, tench)["text"] == "typed"


def test_discard_removes_rows_and_files(text_con, tmp_path):
    result = run_add_class(text_con, _spec())
    paths = [Path(h["path"]) for h in result["heads"]]
    assert all(p.exists() for p in paths)
    keep_added_class(text_con, "custom-house-cat")
    assert discard_added_class(text_con, "custom-house-cat") == 2
    assert not any(p.exists() for p in paths)
    assert added_db.get_added_class(text_con, "custom-house-cat") is None
    assert class_db.get_class(text_con, "custom-house-cat") is None


def test_weights_file_shape_mismatch_is_clear(tmp_path):
    import timm
    from safetensors.torch import save_file

    from extension.models import load_base_model
    from extension.specs import ModelSpec

    other = timm.create_model("test_efficientnet", pretrained=False, num_classes=10)
    path = tmp_path / "w.safetensors"
    save_file(other.state_dict(), str(path))
    with pytest.raises(ValueError, match="shape mismatch"):
        load_base_model(ModelSpec(name="test_efficientnet", weights_path=str(path)))
    model = load_base_model(
        ModelSpec(name="test_efficientnet", weights_path=str(path), num_classes=10)
    )
    assert get_head(model).weight.shape == (10, model.num_features)
    with pytest.raises(FileNotFoundError):
        load_base_model(
            ModelSpec(name="test_efficientnet", weights_path=str(tmp_path / "none.safetensors"))
        )


def test_export_readme_recipe_loads_the_same_logits(text_con, tmp_path):
    """Issue 17 item 3: the export carries its loading recipe; both documented calls give
    the exported head, and the obvious call that gives a random head is warned against."""
    import re

    run_add_class(text_con, _spec())
    keep_added_class(text_con, "custom-house-cat", primary_method="ridge-norm")
    folder = tmp_path / "export"
    run_export(text_con, ExportSpec(out_dir=str(folder), model=TINY_MODEL))
    readme = (folder / "README.md").read_text()
    assert "custom-house-cat" in readme and "ridge-norm" in readme and "added by" in readme
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert "num_classes=1001\n" in code and "NOT create_model" in code
    scope: dict = {}
    exec(code.replace("EXPORT", str(folder)), scope)  # the second call wins in `model`
    import timm

    reference = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(scope["model"].eval()(x), reference(x), atol=0, rtol=0)
