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
        for p in _python_files("curation", "extension", "encoders", "db", "jobs", "cli")
        if "streamlit" in _imports(ast.parse(p.read_text()), top_level_only=False)
    ]
    assert offenders == []


def test_no_heavy_ml_import_at_top_level_of_db_and_curation():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _python_files("db", "curation", "jobs", "scale", "encoders")
        if _imports(ast.parse(p.read_text()), top_level_only=True) & (HEAVY | {"ray"})
    ]
    assert offenders == []


def test_library_layers_do_not_import_ui_or_pages_or_jobs():
    for path in _python_files("curation", "extension", "db", "encoders"):
        imported = _imports(ast.parse(path.read_text()), top_level_only=False)
        assert not imported & {"ui", "pages", "app", "jobs", "cli"}, path


def test_sql_lives_in_db_only():
    for path in _python_files("curation", "extension", "encoders", "ui", "pages", "jobs", "cli"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in {"execute", "sql"}:
                raise AssertionError(f"{path.relative_to(ROOT)}:{node.lineno} runs SQL outside db/")


PROJECT = {
    "app",
    "pages",
    "ui",
    "curation",
    "extension",
    "encoders",
    "db",
    "jobs",
    "cli",
    "contract",
    "scale",
}


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


def test_encoders_import_only_contract_and_scale():
    """`encoders` (text encoders and the one text-vector cache) sits below both curation and
    extension, so it knows neither (nor ui/pages/db/jobs/cli); `scale` only for Ray."""
    allowed = {"encoders", "contract", "scale"}
    offenders = {p: i - allowed for p, i in _project_imports("encoders").items() if i - allowed}
    assert offenders == {}
    assert _project_imports("encoders")  # the package exists and was scanned


def test_extension_reaches_encoders_not_relevance_internals():
    """The class-text embeddings use `encoders`, never the relevance model's modules."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in _python_files("extension")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("curation.relevance")
    ]
    assert offenders == []


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


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST) -> list[str]:
    """Dotted names every import (top level or inside a function) may load at run time;
    `from a.b import c` gives both `a.b.c` and `a.b`. Imports under `if TYPE_CHECKING:` only
    serve type hints and are left out."""
    typing_only = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        for statement in node.body
        for child in ast.walk(statement)
    }
    names = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _find_import_circle(graph: dict[str, set[str]]) -> list[str]:
    """One circle of the module graph (a list of modules, the first repeated last), or []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished

    def visit(module: str, path: list[str]) -> list[str]:
        state[module] = 1
        for other in sorted(graph[module]):
            if state.get(other) == 1:
                return path[path.index(other) :] + [other]
            if other not in state and (found := visit(other, [*path, other])):
                return found
        state[module] = 2
        return []

    for module in sorted(graph):
        if module not in state and (found := visit(module, [module])):
            return found
    return []


def test_no_import_circle_between_library_modules():
    """No two modules import each other, directly or through others, even lazily inside a
    function (e.g. relevance `train` and `frozen_run` share `runs` instead)."""
    paths = _python_files("curation", "extension", "encoders", "db", "jobs", "contract", "scale")
    modules = {_module_name(p): p for p in paths}
    graph = {
        name: {
            imported
            for imported in _runtime_imports(ast.parse(path.read_text()))
            if imported in modules and imported != name
        }
        for name, path in modules.items()
    }
    assert _find_import_circle(graph) == []
