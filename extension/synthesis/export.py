"""Export the base model plus kept added classes as a timm-loadable checkpoint.

The folder holds what timm's own `save_for_hf` writes (`model.safetensors` with the enlarged
classifier, `config.json` with `architecture`, `num_classes`, `label_names` and the
`pretrained_cfg`; for the added classes also timm's `label_descriptions` and `added_classes`:
head index, wnid, name, description, further texts and method), plus `classes.json` (head
order with names and origin) and `provenance.json` (model spec, head files and their
sha256). Reload with either `timm.create_model("local-dir:<folder>", pretrained=True)` or
`timm.create_model(arch, num_classes=N, pretrained=False)` + `load_state_dict`.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from contract.progress import Progress, no_progress
from contract.storage import (
    check_output_folder,
    compute_new_folder_name,
    list_folder_files,
    new_output_folder,
)
from db import added_classes as added_db
from db import classes as class_db
from db.storage import get_storage
from extension.models import Head, compute_extended_model, load_base_model
from extension.specs import ExportSpec
from extension.synthesis.model_card import write_model_card
from extension.synthesis.new_class import load_head_file


def list_export_rows(con: duckdb.DuckDBPyConnection, wnids: list[str] | None = None) -> list[dict]:
    """The primary head row of each kept added class (or of the given ones), in add order.

    Raises:
        ValueError: a requested class is not a kept added class.
    """
    kept = added_db.list_added_classes(con, status="kept")["wnid"].to_list()
    wnids = kept if wnids is None else wnids
    missing = [w for w in wnids if w not in kept]
    if missing:
        raise ValueError(f"Not kept added classes: {missing}; kept: {kept}")
    heads = added_db.list_synthesized_heads(con).filter("is_primary")
    rows = {r["wnid"]: r for r in heads.iter_rows(named=True)}
    return [rows[w] for w in wnids]


def run_export(
    con: duckdb.DuckDBPyConnection,
    spec: ExportSpec,
    progress: Progress | None = None,
    *,
    cache_dir: Path | None = None,
) -> dict:
    """Job entry point: write the extended checkpoint into a new folder.

    `spec.out_dir` '' = a new folder under the storage root's exports/; else a path that does
    not exist yet (or an empty folder). The files are written into a temporary folder this run
    creates and renamed into place when complete: nothing the product did not create is ever
    deleted or overwritten (`contract.storage.new_output_folder`).

    Returns:
        `path`, `files` (the names written, relative), `num_classes`, `added` (wnids),
        `architecture`.

    Raises:
        contract.storage.OutputFolderError: `spec.out_dir` exists with content (checked before
            any work).
    """
    from timm.models import save_for_hf

    progress = progress or no_progress
    storage = get_storage(con, cache_dir=cache_dir)
    out_dir = (
        check_output_folder(spec.out_dir)
        if spec.out_dir
        else compute_new_folder_name(storage.exports, "extended-model")
    )
    model_spec = spec.model
    rows = list_export_rows(con, list(spec.wnids) or None)
    for row in rows:
        if row["model_key"] and json.loads(row["model_json"]) != model_spec.to_dict():
            raise ValueError(
                f"The row of {row['wnid']} was synthesized for model {row['model_json']}, not "
                f"{model_spec.to_json()}: synthesize it again for this model."
            )
    progress(0.1, "loading the base model")
    model = load_base_model(model_spec, cache_dir=storage.cache)
    base_wnids = _base_wnids(con, model)
    heads = [load_head_file(Path(r["path"]), sha256=r["sha256"]) for r in rows]
    if heads:
        import torch

        compute_extended_model(
            model, Head(torch.cat([h.weight for h in heads]), torch.cat([h.bias for h in heads]))
        )
    label_names = base_wnids + [r["wnid"] for r in rows]
    added = compute_added_class_config(con, rows, first_index=len(base_wnids))
    progress(0.5, "writing the checkpoint")
    with new_output_folder(out_dir) as tmp:
        save_for_hf(
            model,
            str(tmp),
            model_config={
                "label_names": label_names,
                "label_descriptions": {a["wnid"]: a["description"] for a in added},
                "added_classes": added,
            },
            safe_serialization=True,
        )
        _write_class_files(con, tmp, model_spec, rows, label_names)
        write_model_card(
            con,
            tmp,
            architecture=model.pretrained_cfg.get("architecture"),
            num_classes=len(label_names),
            model_spec=model_spec.to_dict(),
            rows=rows,
        )
        files = list_folder_files(tmp)
    progress(1.0, f"exported {len(label_names)} classes")
    return {
        "path": str(out_dir),
        "files": files,
        "num_classes": len(label_names),
        "added": [r["wnid"] for r in rows],
        "architecture": model.pretrained_cfg.get("architecture"),
    }


def compute_added_class_config(con, rows: list[dict], *, first_index: int) -> list[dict]:
    """Per exported added class: its head `index`, `wnid`, `name`, the `description` and the
    further `texts` its row was synthesized from, and the synthesis `method` (config.json)."""
    added = []
    for offset, row in enumerate(rows):
        draft = added_db.get_added_class(con, row["wnid"])
        added.append(
            {
                "index": first_index + offset,
                "wnid": row["wnid"],
                "name": draft["name"],
                "description": draft["description"],
                "texts": json.loads(draft["texts_json"] or "[]"),
                "method": row["method_label"],
            }
        )
    return added


def _write_class_files(con, folder: Path, model_spec, rows: list[dict], label_names: list[str]):
    """`classes.json` (head order with names and origin) and `provenance.json`."""
    names = {r["wnid"]: r for r in class_db.list_classes(con).iter_rows(named=True)}
    classes = [
        {
            "index": i,
            "wnid": w,
            "name": names.get(w, {}).get("name", w),
            "origin": names.get(w, {}).get("origin", "unknown"),
        }
        for i, w in enumerate(label_names)
    ]
    (folder / "classes.json").write_text(json.dumps(classes, indent=1), encoding="utf-8")
    provenance = {
        "model": model_spec.to_dict(),
        "added": [
            {
                **{k: r[k] for k in ("wnid", "method_label", "spec_json", "model_key", "sha256")},
                "row_file": Path(r["path"]).name,  # no server path in a file that leaves it
            }
            for r in rows
        ],
    }
    (folder / "provenance.json").write_text(json.dumps(provenance, indent=1), encoding="utf-8")


def _base_wnids(con: duckdb.DuckDBPyConnection, model) -> list[str]:
    from curation.catalog import load_imagenet1k_wnids

    n = model.get_classifier().weight.shape[0]
    if n == 1000:
        return list(load_imagenet1k_wnids())
    return [f"class-{i}" for i in range(n)]
