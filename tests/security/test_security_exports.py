"""Findings 1 and 2 of issue 23: an export never deletes, overwrites or leaks what the product
did not create.

1. `workbench export-model --out DIR` deleted whatever was in DIR (`shutil.rmtree`), `--out ..`
   from a subfolder emptied the parent, and a sibling `DIR.partial` (someone else's) was
   deleted silently. Now an export goes to a new folder (default: under the storage root's
   exports/) or to a path that does not exist yet, through a temporary folder the export
   created itself; an existing folder with content is refused in one line before any work.
2. The download zips held every file of the folder. Now a zip holds only the files the export
   wrote, and is never written over an existing file.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from cli.main import main as workbench
from contract.files import compute_files_zip, write_files_zip
from contract.storage import OutputFolderError, new_output_folder
from db.storage import get_storage
from extension.specs import ExportSpec
from extension.synthesis.export import run_export
from tests.extension_helpers import TINY_MODEL


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "workbench" not in p.name and "-files" not in str(p)
    }


@pytest.fixture
def someone_elses(tmp_path) -> Path:
    """A folder with a user's files in it, and a sibling `*.partial` of theirs."""
    folder = tmp_path / "area" / "mine"
    folder.mkdir(parents=True)
    (folder / "id_rsa").write_text("PRIVATE KEY")
    (folder / "notes.txt").write_text("keep me")
    (tmp_path / "area" / "mine.partial").mkdir()
    (tmp_path / "area" / "mine.partial" / "draft.txt").write_text("half done, keep me")
    return folder


def test_an_export_into_a_folder_with_content_is_refused_and_nothing_changes(
    catalog_con, tmp_path, someone_elses
):
    before = _snapshot(tmp_path / "area")
    with pytest.raises(OutputFolderError, match="exists and is not empty"):
        run_export(catalog_con, ExportSpec(out_dir=str(someone_elses), model=TINY_MODEL))
    assert _snapshot(tmp_path / "area") == before


def test_cli_export_to_dot_dot_is_refused_in_one_line(catalog_con, db_path, tmp_path, capsys):
    parent = tmp_path / "project"
    (parent / "sub").mkdir(parents=True)
    (parent / "precious.txt").write_text("keep me")
    before = _snapshot(parent)
    catalog_con.close()
    cwd = os.getcwd()
    os.chdir(parent / "sub")
    try:
        for out in ("..", ".", str(parent)):
            argv = ["export-model", "--db", str(db_path), "--out", out]
            argv += ["--model", TINY_MODEL.name, "--no-pretrained"]
            assert workbench(argv) == 2
            err = capsys.readouterr().err.strip()
            assert err.startswith("workbench export-model: error: ") and "\n" not in err, err
    finally:
        os.chdir(cwd)
    assert _snapshot(parent) == before


def test_export_to_a_new_path_keeps_a_foreign_partial_sibling(catalog_con, tmp_path, someone_elses):
    target = tmp_path / "area" / "new-export"
    (tmp_path / "area" / "new-export.partial").mkdir()
    (tmp_path / "area" / "new-export.partial" / "theirs.txt").write_text("theirs")
    result = run_export(catalog_con, ExportSpec(out_dir=str(target), model=TINY_MODEL))
    assert Path(result["path"]) == target.absolute()
    assert (tmp_path / "area" / "new-export.partial" / "theirs.txt").read_text() == "theirs"
    assert (someone_elses.parent / "mine.partial" / "draft.txt").exists()
    assert set(result["files"]) == {p.name for p in target.iterdir()}
    assert "model.safetensors" in result["files"]
    leftovers = [p.name for p in target.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_default_export_is_a_new_folder_under_the_storage_root(catalog_con, db_path):
    first = run_export(catalog_con, ExportSpec(model=TINY_MODEL))
    second = run_export(catalog_con, ExportSpec(model=TINY_MODEL))
    exports = get_storage(catalog_con).exports
    assert exports == db_path.parent / "workbench-files" / "exports"
    assert Path(first["path"]).parent == exports and Path(second["path"]).parent == exports
    assert first["path"] != second["path"]


def test_a_failed_export_removes_only_its_own_temporary_folder(tmp_path):
    area = tmp_path / "area"
    area.mkdir()
    (area / ".x.partial").mkdir()  # looks like ours, is not
    with pytest.raises(RuntimeError), new_output_folder(area / "x") as tmp:
        (tmp / "half").write_text("written")
        raise RuntimeError("killed")
    assert sorted(p.name for p in area.iterdir()) == [".x.partial"]


def test_the_download_zip_holds_only_the_files_the_export_wrote(catalog_con, tmp_path):
    result = run_export(catalog_con, ExportSpec(out_dir=str(tmp_path / "exp"), model=TINY_MODEL))
    (tmp_path / "exp" / "id_rsa").write_text("PRIVATE KEY")  # appears later, not ours
    target = write_files_zip(result["path"], result["files"], tmp_path / "exp.zip")
    names = zipfile.ZipFile(target).namelist()
    assert sorted(names) == sorted(result["files"]) and "id_rsa" not in names
    with pytest.raises(FileExistsError):
        write_files_zip(result["path"], result["files"], target)
    for bad in ("../x", "/etc/passwd"):
        with pytest.raises(ValueError):
            compute_files_zip(tmp_path / "exp", [bad])
