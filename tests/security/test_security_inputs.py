"""Findings 5, 7, 9 and 15 of issue 23: what a user types or links is checked by one rule.

5. Registering a list file named `/etc/shadow` or a `.env` showed its first line in the
   error, and a 20 MB file took gigabytes of server memory. Now errors name a line by its
   number and never quote content, and a file over the size limit is refused before reading.
7. Weights with NaN/Inf, int8 or bool tensors were accepted by `--weights` and exported. Now
   refused in one line, before anything is built or written.
9. `?model=vit_huge_patch14_224` in a link made the server build (and try to download) any timm
   model. Now a page offers only 'default' and the models an operator lists.
15. `--source $'evil\\n'` and Arabic-Indic digits in a class id passed the name checks (`$`,
   `\\d`). Names are now checked in full and in ASCII.
"""

from __future__ import annotations

import pytest
import torch

from cli.main import main as workbench
from curation.captions import SOURCE_NAME_PATTERN
from curation.catalog import CUSTOM_ID_PATTERN, WNID_PATTERN
from extension.images.sets import MAX_LIST_BYTES, SET_NAME_PATTERN, load_image_list
from extension.models import list_allowed_models, load_base_model
from extension.specs import ModelSpec
from tests.conftest import REPO_ROOT, open_page
from tests.extension_helpers import TINY_MODEL

SECRET = "root:$6$very-secret-hash:19000:0:99999:7:::"


@pytest.mark.parametrize("content", [SECRET, f"{SECRET}\tn01440764", "API_KEY=abc,123"])
def test_a_list_file_error_never_shows_the_files_content(tmp_path, content):
    path = tmp_path / "shadow"
    path.write_text(content + "\n")
    with pytest.raises(ValueError) as info:
        load_image_list(path)
    message = str(info.value)
    assert "line 1" in message
    for part in ("very-secret", "API_KEY", "abc"):
        assert part not in message, message


def test_a_huge_list_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as handle:  # sparse: no disk, no memory
        handle.truncate(MAX_LIST_BYTES + 1)
    with pytest.raises(ValueError, match="larger than a list file may be"):
        load_image_list(path)


def _weights(tmp_path, change) -> str:
    from safetensors.torch import save_file

    state = {k: v.clone() for k, v in load_base_model(TINY_MODEL).state_dict().items()}
    key = next(k for k, v in state.items() if v.is_floating_point() and v.dim() == 2)
    state[key] = change(state[key])
    path = tmp_path / "w.safetensors"
    save_file(state, str(path))
    return str(path)


BAD_VALUES = {
    "nan": lambda t: t.index_fill(0, torch.tensor([0]), float("nan")),
    "inf": lambda t: t.index_fill(0, torch.tensor([0]), float("inf")),
    "int8": lambda t: t.to(torch.int8),
    "bool": lambda t: t > 0,
}


@pytest.mark.parametrize("kind", sorted(BAD_VALUES))
def test_weights_with_bad_values_are_refused_and_never_exported(kind, tmp_path, capsys):
    path = _weights(tmp_path, BAD_VALUES[kind])
    with pytest.raises(ValueError, match="Weights file"):
        load_base_model(ModelSpec(name=TINY_MODEL.name, pretrained=False, weights_path=path))
    out = tmp_path / "export"
    argv = ["export-model", "--db", str(tmp_path / "w.duckdb"), "--create", "--out", str(out)]
    argv += ["--model", TINY_MODEL.name, "--weights", path, "--no-pretrained"]
    assert workbench(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("workbench export-model: error: Weights file") and "\n" not in err
    assert not out.exists()


def test_good_weights_still_load(tmp_path):
    path = _weights(tmp_path, lambda t: t * 0.5)
    load_base_model(ModelSpec(name=TINY_MODEL.name, pretrained=False, weights_path=path))


def test_a_model_in_a_link_is_only_taken_from_the_allow_list(app_catalog_con, monkeypatch):
    monkeypatch.delenv("WORKBENCH_MODELS", raising=False)
    at = open_page(str(REPO_ROOT / "pages" / "add_class.py"), timeout=120)
    at.query_params["model"] = "vit_huge_patch14_224"
    at.run()
    assert not at.exception
    assert any("not offered here" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.selectbox(key="model").value == "default"
    assert at.selectbox(key="model").options == ["default"]
    monkeypatch.setenv("WORKBENCH_MODELS", "resnet18, default,resnet18")
    assert list_allowed_models() == ["default", "resnet18"]


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (WNID_PATTERN, "n01440764", ["n01440764\n", "n٠١٤٤٠٧٦٤"]),
        (CUSTOM_ID_PATTERN, "custom-house-cat", ["custom-house-cat\n"]),
        (SOURCE_NAME_PATTERN, "mine", ["evil\n", "evil\r\n"]),
        (SET_NAME_PATTERN, "My set 1", ["My set\n", "set ١"]),
    ],
)
def test_names_are_checked_in_full_and_in_ascii(pattern, good, bad):
    assert pattern.match(good)
    for name in bad:
        assert not pattern.match(name), repr(name)


def test_cli_refuses_a_source_name_with_a_newline(tmp_path, capsys):
    sample = tmp_path / "c.json"
    sample.write_text("[]")
    argv = ["ingest-captions", str(sample), "--db", str(tmp_path / "w.duckdb"), "--create"]
    assert workbench([*argv, "--source", "evil\n", "--quiet"]) == 2
    assert "\n" not in capsys.readouterr().err.strip()


@pytest.mark.parametrize("value", ["abc", "٣", "-", "21619 · ILSVRC2012_val_00022138.JPEG"])
def test_a_bad_number_in_a_link_does_not_crash_captions(app_catalog_con, value):
    from curation.captions import ingest_caption_file
    from tests.conftest import SHARED_DIR

    sample = SHARED_DIR / "data" / "imagenet_captions" / "sample_records.json"
    if not sample.exists():
        pytest.skip("../shared is not next to the repository")
    ingest_caption_file(app_catalog_con, sample)
    at = open_page(str(REPO_ROOT / "pages" / "captions.py"), timeout=120)
    for key in ("cap-page", "cap-page-size", "cap-record"):
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception


def test_the_overview_shows_the_database_path_as_typed(tmp_path, monkeypatch):
    from db.connect import connect

    path = tmp_path / "[click](http:x) **bold**.duckdb"
    connect(path).close()
    monkeypatch.setenv("WORKBENCH_DB", str(path))
    at = open_page(str(REPO_ROOT / "pages" / "overview.py"), timeout=120).run()
    assert not at.exception
    shown = [c.value for c in at.caption if c.value.startswith("Database")]
    assert shown and "\\*\\*bold\\*\\*" in shown[0] and "\\[click\\]" in shown[0], shown


def test_a_300_character_upload_name_is_shortened_not_an_os_error(con, tmp_path):
    import io

    from PIL import Image

    from extension.images.uploads import save_uploaded_set

    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 10, 10)).save(buffer, format="JPEG")
    set_id = save_uploaded_set(
        con,
        [("a" * 300 + ".jpg", buffer.getvalue())],
        uploads_dir=tmp_path / "uploads",
        set_name="long names",
        class_id="n01440764",
        created_by="tester",
    )
    assert set_id > 0


def test_a_lone_surrogate_is_reported_with_its_byte_and_record(catalog_con, tmp_path):
    from curation.captions import ingest_caption_file

    good = '{"filename": "a.JPEG", "wnid": "n01440764", "title": "ok", "tags": []}'
    bad = '{"filename": "b.JPEG", "wnid": "n01440764", "title": "x \\ud800 y", "tags": []}'
    path = tmp_path / "s.json"
    path.write_text(f"[{good},\n{bad}]")
    byte = path.read_bytes().index(b"\\ud800")
    with pytest.raises(ValueError, match=rf"byte {byte} \(record 1, counting from 0\)"):
        ingest_caption_file(catalog_con, path)


def test_locating_an_error_in_a_huge_sparse_file_reads_a_bounded_part(tmp_path):
    import resource

    from curation.json_errors import MAX_LOCATE_BYTES, find_json_list_error

    path = tmp_path / "sparse.json"
    with open(path, "wb") as handle:
        handle.write(b"[")
        handle.truncate(2 << 30)  # 2 GiB of NUL bytes, no disk used
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    found = find_json_list_error(path)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert found is not None and found.byte == 1  # the first NUL, right after '['
    assert grown_kib < 8 * MAX_LOCATE_BYTES // 1024


def test_an_encoder_whose_weights_are_a_code_running_pickle_is_one_line(tmp_path):
    """Issue 23 #13: PyTorch's 39-line refusal (with its `weights_only=False` advice)."""
    import os
    import pickle

    from curation.relevance.tiny import build_tiny_encoder
    from encoders.loading import EncoderNotAvailableError, load_encoder

    folder = build_tiny_encoder(tmp_path / "enc", ["a cat on a mat", "a dog"] * 20, vocab_size=300)
    canary = tmp_path / "canary"

    class RunsCode:
        def __reduce__(self):
            return (os.system, (f"echo pwned > {canary}",))

    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"x": RunsCode()}))
    with pytest.raises(EncoderNotAvailableError) as info:
        load_encoder(str(folder))
    message = str(info.value)
    assert "\n" not in message and "weights_only" not in message and "pickle" in message
    assert not canary.exists()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3", 3),
        (" 3 ", 3),
        ("1e999", None),
        ("inf", None),
        ("abc", None),
        ("٣", None),
        ("+3", None),
        ("-5", None),
        ("0", None),
        ("99999999999999999999", None),
        ("9" * 5000, None),
        ("7", None),  # not one of the choices
    ],
)
def test_a_number_in_a_link_is_read_within_its_bounds(raw, expected):
    from ui.widgets import parse_int_in_bounds

    choices = (3, 25, 50)
    assert parse_int_in_bounds(raw, min_value=1, max_value=10**12, choices=choices) == expected


@pytest.mark.parametrize(
    "query",
    [
        {"cap-page": "1e999"},
        {"cap-page": "-5"},
        {"cap-page": "99999999999999999999"},
        {"cap-page-size": "7"},
        {"cap-page-size": "-50", "cap-page": "0"},
    ],
)
def test_captions_fall_back_to_the_default_page_on_a_bad_link(app_catalog_con, query):
    from curation.captions import ingest_caption_file
    from tests.conftest import SHARED_DIR

    sample = SHARED_DIR / "data" / "imagenet_captions" / "sample_records.json"
    if not sample.exists():
        pytest.skip("../shared is not next to the repository")
    ingest_caption_file(app_catalog_con, sample)
    at = open_page(str(REPO_ROOT / "pages" / "captions.py"), timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    assert at.number_input(key="cap-page").value == 1
    assert at.selectbox(key="cap-page-size").value == 50
    for key, value in query.items():
        assert at.query_params.get(key) != value
