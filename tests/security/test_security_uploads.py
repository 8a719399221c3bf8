"""Findings 2 and 3 of issue 10: an upload can neither escape `uploads/` nor replace files.

2. An image-set name of `..` wrote the photo outside `uploads/` and registered the
   database's folder as a set. Names and class ids are now checked as names before anything
   is written: nothing appears anywhere on disk and nothing is registered.
3. A different `x.jpg` under an existing set name was refused only after the file on disk was
   replaced, so embedding that set stored image B's features under image A's hash. Now the
   refusal comes first, the file keeps A's bytes, and the feature store holds A's features
   under A's hash; a file changed behind the workbench's back is reported, never stored under
   its old hash.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch

from contract.files import hash_bytes
from db import image_sets as set_db
from extension.images.files import open_image
from extension.images.sets import register_image_set, run_embed_image_set
from extension.images.store import compute_batch_features, make_eval_transform, open_feature_store
from extension.models import compute_model_key, load_base_model
from extension.specs import EmbedSpec
from tests.extension_helpers import TINY_MODEL, upload_set

WNID = "n01440764"


def _jpeg(colour: tuple[int, int, int], size: int = 48) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes (what is on disk, wherever it is)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith((".wal", ".duckdb"))
    }


@pytest.fixture
def upload_area(tmp_path, con):
    """(uploads folder inside a 'data' folder that also holds other files, the data folder)."""
    data = tmp_path / "data"
    (data / "elsewhere").mkdir(parents=True)
    (data / "elsewhere" / "keep.txt").write_text("not an upload")
    return data / "uploads", data


SET_NAMES_THAT_ARE_PATHS = [
    "..",
    ".",
    "../outside",
    "a/../../b",
    "/tmp/abs",
    "sub/dir",
    "..\\win",
    "",
    " ",
    ".hidden",
]
CLASS_IDS_THAT_ARE_PATHS = ["..", "../n01440764", "n01440764/..", "/etc", "A B", ""]
# (field of the upload form, a value that is a path, the refusal it gets).
_PATH_VALUES = [("set_name", v, "not a plain name") for v in SET_NAMES_THAT_ARE_PATHS] + [
    ("class_id", v, "Class id") for v in CLASS_IDS_THAT_ARE_PATHS
]


@pytest.mark.parametrize(("field", "value", "message"), _PATH_VALUES)
def test_a_set_name_or_class_id_that_is_a_path_writes_nothing_anywhere(
    con, upload_area, field, value, message
):
    uploads, data = upload_area
    before = _snapshot(data.parent)
    with pytest.raises(ValueError, match=message):
        upload_set(con, uploads, [("x.jpg", _jpeg((200, 10, 10)))], **{field: value})
    assert _snapshot(data.parent) == before
    assert not uploads.exists() or not any(uploads.iterdir())
    assert set_db.list_image_sets(con).is_empty()


def test_file_names_sent_by_the_browser_stay_inside_the_set_folder(con, upload_area):
    uploads, data = upload_area
    hostile = ["../../escape.jpg", "/etc/passwd.jpg", "..\\..\\win.jpg", "a/b/c.png", "..png"]
    images = [_jpeg((10 * i, 50, 90)) for i in range(len(hostile))]
    set_id = upload_set(con, uploads, list(zip(hostile, images, strict=True)))
    items = set_db.list_image_set_items(con, set_id)
    folder = (uploads / "photos" / WNID).resolve()
    assert all(Path(p).resolve().parent == folder for p in items["path"])
    assert sorted(items["sha256"]) == sorted(hash_bytes(b) for b in images)
    outside = {k for k in _snapshot(data.parent) if not k.startswith("data/uploads/photos/")}
    assert outside == {"data/elsewhere/keep.txt"}


def test_upload_under_a_taken_name_is_refused_before_the_file_is_touched(con, upload_area):
    uploads, _ = upload_area
    image_a, image_b = _jpeg((220, 30, 30)), _jpeg((30, 30, 220))
    set_id = upload_set(con, uploads, [("x.jpg", image_a)])
    on_disk = uploads / "photos" / WNID / "x.jpg"
    stat_before = on_disk.stat()
    with pytest.raises(ValueError, match="already exists"):
        upload_set(con, uploads, [("x.jpg", image_b)])
    assert on_disk.read_bytes() == image_a
    assert on_disk.stat().st_mtime_ns == stat_before.st_mtime_ns
    assert set_db.list_image_set_items(con, set_id)["sha256"].to_list() == [hash_bytes(image_a)]
    assert [p.name for p in uploads.iterdir()] == ["photos"]  # no staging folder left behind


def test_a_folder_already_on_disk_is_never_replaced_by_an_upload(con, upload_area):
    uploads, _ = upload_area
    other = uploads / "photos" / WNID
    other.mkdir(parents=True)
    (other / "x.jpg").write_bytes(_jpeg((1, 2, 3)))  # files of another set (e.g. a list file)
    before = _snapshot(uploads)
    with pytest.raises(ValueError, match="already exists"):
        upload_set(con, uploads, [("x.jpg", _jpeg((200, 200, 0)))])
    assert _snapshot(uploads) == before
    assert set_db.list_image_sets(con).is_empty()


def _features_of(model, data: bytes) -> torch.Tensor:
    image = open_image(data, where="test")
    return compute_batch_features(model, make_eval_transform(model)(image)[None])[0]


def test_embedding_after_a_refused_upload_stores_the_first_image_under_its_own_hash(
    con, upload_area, tmp_path
):
    uploads, _ = upload_area
    image_a, image_b = _jpeg((220, 30, 30)), _jpeg((30, 30, 220))
    set_id = upload_set(con, uploads, [("x.jpg", image_a)])
    with pytest.raises(ValueError):
        upload_set(con, uploads, [("x.jpg", image_b)])
    cache = tmp_path / "cache"
    spec = EmbedSpec(set_id, model=TINY_MODEL, device="cpu")
    assert run_embed_image_set(con, spec, cache_dir=cache)["n_embedded"] == 1
    model = load_base_model(TINY_MODEL)
    store = open_feature_store(compute_model_key(model), cache_dir=cache)
    assert store.known() == {hash_bytes(image_a)}
    stored = store.get([hash_bytes(image_a)])[0]
    assert torch.allclose(stored, _features_of(model, image_a), atol=1e-5)
    assert not torch.allclose(stored, _features_of(model, image_b), atol=1e-3)


def test_a_file_changed_after_registration_is_reported_and_not_stored_under_its_old_hash(
    con, tmp_path
):
    folder = tmp_path / "set" / WNID
    folder.mkdir(parents=True)
    image_a, image_b = _jpeg((220, 30, 30)), _jpeg((30, 30, 220))
    (folder / "x.jpg").write_bytes(image_a)
    set_id = register_image_set(con, tmp_path / "set", name="changing", created_by="tester")
    (folder / "x.jpg").write_bytes(image_b)  # replaced behind the workbench's back
    os.utime(folder / "x.jpg")
    cache = tmp_path / "cache"
    report = run_embed_image_set(con, EmbedSpec(set_id, model=TINY_MODEL), cache_dir=cache)
    assert (report["n_embedded"], report["n_failed"]) == (0, 1)
    errors = set_db.list_image_errors(con, set_id)["error"].to_list()
    assert len(errors) == 1 and "changed since it was registered" in errors[0]
    store = open_feature_store(report["model_key"], cache_dir=cache)
    assert hash_bytes(image_a) not in store.known()
