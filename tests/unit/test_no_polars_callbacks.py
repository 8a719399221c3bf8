"""No Python callbacks in polars in code the server runs (issue 23, finding 3).

A polars callback (`map_elements`, `map_batches`, ...) runs Python on polars' thread pool;
with another request thread holding the GIL while it waits for that pool (`to_pandas`,
`from_arrow`), ten sessions deadlocked the server for good. Native expressions or plain
Python over lists do the same work without the callback.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_CODE = ("app.py", "pages", "ui", "curation", "extension", "db", "jobs", "encoders")
CALLBACKS = {"map_elements", "map_batches", "map_rows", "map_groups", "apply", "map_dict"}


def _files() -> list[Path]:
    paths = []
    for name in SERVER_CODE:
        path = ROOT / name
        paths += [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))
    return [p for p in paths if p.exists()]


def test_no_polars_python_callback_in_server_code():
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno} .{node.func.attr}()"
        for path in _files()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in CALLBACKS
    ]
    assert offenders == []
