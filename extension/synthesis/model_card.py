"""The loading recipe and model card written beside an exported checkpoint (README.md).

timm's obvious call `create_model(arch, pretrained=True, num_classes=N,
pretrained_cfg_overlay=dict(file=...))` loads the backbone but silently replaces the
classifier with a random one: timm drops a head whose size differs from the pretrained
config's `num_classes`. The README therefore gives the two calls that keep the head:
`local-dir:<folder>`, or `num_classes=N` inside the overlay (checked by
`test_export_readme_recipe_loads_the_same_logits`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from db import added_classes as added_db


def compute_recipe(architecture: str, num_classes: int) -> str:
    """The exact Python that loads the exported head (the folder is `EXPORT`)."""
    return (
        "import timm\n"
        "# 1. the whole folder (config.json gives num_classes and label_names):\n"
        'model = timm.create_model("local-dir:EXPORT", pretrained=True)\n'
        "# 2. or the weights file, with num_classes INSIDE the overlay:\n"
        "model = timm.create_model(\n"
        f'    "{architecture}", pretrained=True,\n'
        "    pretrained_cfg_overlay=dict(\n"
        f'        file="EXPORT/model.safetensors", num_classes={num_classes}\n'
        "    ),\n"
        ")\n"
        "# NOT create_model(..., num_classes=N, pretrained_cfg_overlay=dict(file=...)):\n"
        "# timm then drops the stored classifier and the head is random.\n"
    )


def write_model_card(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    *,
    architecture: str,
    num_classes: int,
    model_spec: dict,
    rows: list[dict],
) -> Path:
    """Write `folder/README.md` (recipe + model card) and return its path.

    Args:
        rows: the exported primary head rows (`list_export_rows`), in head order.
    """
    kept = {r["wnid"]: r for r in added_db.list_added_classes(con).iter_rows(named=True)}
    lines = [
        "# Extended classifier (ImageNet curation workbench export)",
        "",
        "## Loading",
        "",
        "```python",
        compute_recipe(architecture, num_classes).rstrip(),
        "```",
        "",
        "Class order: `config.json` `label_names` (also `classes.json` with names); the added",
        f"classes are the last {len(rows)} rows of the {num_classes}-way head.",
        "",
        "## Model card",
        "",
        f"- Base model: `{architecture}` (workbench spec `{json.dumps(model_spec)}`)",
        f"- Exported: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "- Added classes (head row, method, calibration, who added/kept it):",
    ]
    for offset, row in enumerate(rows):
        spec = json.loads(row["spec_json"]) if row.get("spec_json") else {}
        who = kept.get(row["wnid"], {})
        lines.append(
            f"  - {num_classes - len(rows) + offset}: `{row['wnid']}`, method "
            f"`{row['method_label']}`, calibration `{spec.get('calibration', 'none')}`, "
            f"added by {who.get('created_by', '?')}, kept {who.get('kept_at', '?')}"
        )
    path = Path(folder) / "README.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
