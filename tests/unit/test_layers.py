"""The import rules of DESIGN.md, checked on the source with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"torch", "timm", "transformers", "torchvision"}


def _python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py")]


def _imports(tree: ast.AST, *, top_level_only: bool) -> set[str]:
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_streamlit_only_in_app_pages_ui():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _python_files("curation", "extension", "db", "jobs", "cli")
        if "streamlit" in _imports(ast.parse(p.read_text()), top_level_only=False)
    ]
    assert offenders == []


def test_no_heavy_ml_import_at_top_level_of_db_and_curation():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _python_files("db", "curation", "jobs", "scale")
        if _imports(ast.parse(p.read_text()), top_level_only=True) & (HEAVY | {"ray"})
    ]
    assert offenders == []


def test_library_layers_do_not_import_ui_or_pages_or_jobs():
    for path in _python_files("curation", "extension", "db"):
        imported = _imports(ast.parse(path.read_text()), top_level_only=False)
        assert not imported & {"ui", "pages", "app", "jobs", "cli"}, path


def test_sql_lives_in_db_only():
    for path in _python_files("curation", "extension", "ui", "pages", "jobs", "cli"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in {"execute", "sql"}:
                raise AssertionError(f"{path.relative_to(ROOT)}:{node.lineno} runs SQL outside db/")


PROJECT = {"app", "pages", "ui", "curation", "extension", "db", "jobs", "cli", "contract", "scale"}


def _project_imports(folder: str) -> dict[str, set[str]]:
    return {
        str(p.relative_to(ROOT)): _imports(ast.parse(p.read_text()), top_level_only=False) & PROJECT
        for p in _python_files(folder)
    }


def test_contract_imports_nothing_else_of_the_project():
    offenders = {
        p: i - {"contract"} for p, i in _project_imports("contract").items() if i - {"contract"}
    }
    assert offenders == {}


def test_scale_imports_only_contract():
    """`scale` (the Ray engine) is shared by curation and extension, so it knows neither."""
    offenders = {
        p: i - {"scale", "contract"}
        for p, i in _project_imports("scale").items()
        if i - {"scale", "contract"}
    }
    assert offenders == {}


def test_db_imports_only_db_and_contract():
    allowed = {"db", "contract"}
    offenders = {p: i - allowed for p, i in _project_imports("db").items() if i - allowed}
    assert offenders == {}


def test_curation_does_not_import_extension():
    offenders = [p for p, i in _project_imports("curation").items() if "extension" in i]
    assert offenders == []


def test_the_jobs_registry_has_no_import_circle():
    imported = _imports(
        ast.parse((ROOT / "jobs" / "registry.py").read_text()), top_level_only=False
    )
    assert imported & PROJECT <= {"contract"}
