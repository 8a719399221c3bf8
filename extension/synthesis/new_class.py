"""Add a class from text: preview its neighbours, synthesize rows, keep or discard.

Flow: `compute_preview` (no writes; `extension.synthesis.neighbours`) -> `run_add_class` (job:
rows saved as safetensors files + a 'draft' in one transaction) -> `keep_added_class`
(catalog entry, one transaction) or `discard_added_class`. A failure at any step leaves
nothing half-way: files written before a failed transaction are removed again. Calibrated
methods set the row's bias on a registered image set (`AddClassSpec.calibration_set_id`,
unlabeled; images filed under the new class's own id excluded); the set and the rule are
stored with each row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl
import torch

from contract.devices import resolve_device
from contract.files import hash_file
from contract.progress import Progress, no_progress, scale_progress
from curation import access
from curation.catalog import CUSTOM_ID_PATTERN, WNID_PATTERN, add_class, load_wordnet_lemmas
from curation.descriptions import adopt_typed_description
from db import added_classes as added_db
from db import classes as class_db
from db.sql import transaction
from db.storage import get_storage
from extension.models import BaseClassifier, Head, load_base_classifier
from extension.specs import AddClassSpec
from extension.synthesis.calibration import (
    CalibrationImages,
    needs_calibration_images,
    uses_builtin_images,
)
from extension.synthesis.donors import (
    Donors,
    compute_new_inputs,
    compute_new_rows,
    load_donors_for_methods,
)
from extension.synthesis.methods import complete_spec, describe_spec
from extension.synthesis.neighbours import Preview, compute_preview, compute_preview_from_inputs
from extension.text.stats import compute_texts_sha256
from extension.text.store import ensure_text_stats

__all__ = ["Preview", "compute_preview", "list_calibration_sets", "run_add_class"]


def check_new_class_id(con: duckdb.DuckDBPyConnection, class_id: str, name: str) -> str:
    """The stripped id when it is well-formed and free.

    Raises:
        ValueError: malformed, unknown 21k wnid, missing name, or already used.
    """
    class_id = (class_id or "").strip()
    if class_db.get_class(con, class_id) is not None:
        raise ValueError(f"The class id {class_id!r} is already in the catalog.")
    if added_db.get_added_class(con, class_id) is not None:
        raise ValueError(
            f"The class id {class_id!r} was already added (keep or discard that draft first)."
        )
    if WNID_PATTERN.match(class_id):
        if class_id not in load_wordnet_lemmas():
            raise ValueError(f"{class_id!r} is not an ImageNet-21k wnid; use a 'custom-<name>' id.")
    elif not CUSTOM_ID_PATTERN.match(class_id):
        raise ValueError(
            f"Invalid class id {class_id!r}: use a WordNet id like n04552696, or 'custom-' "
            "followed by lowercase letters, digits and dashes."
        )
    if not (name or "").strip():
        raise ValueError(f"The class {class_id!r} needs a name.")
    return class_id


def compute_class_texts(name: str, description: str, texts: Sequence[str] = ()) -> list[str]:
    """The texts a new class is synthesized from, in the base classes' form
    (`db.text_stats`: a class text of lemmas, then descriptions): its name and description as
    one class text first, then each other text (captions, notes)."""
    name = str(name).strip().rstrip(".").strip()
    head = f"{name}. {description}".strip() if name else str(description).strip()
    return [head, *texts]


def run_add_class(
    con: duckdb.DuckDBPyConnection,
    spec: AddClassSpec,
    progress: Progress | None = None,
    *,
    cache_dir: Path | None = None,
) -> dict:
    """Job entry point: synthesize the rows of a new class and store it as a draft.

    Returns:
        `wnid`, `n_tokens`, per method `method_label`, `row_norm`, `bias`, `calibration`,
        `path`, `sha256`, and `nearest`: per distance the 5 nearest base classes (`rank`,
        `wnid`, `name`, `distance`, `evidence`, `evidence_score`, `reason`).

    Raises:
        ValueError: bad id or texts, a calibrated method without `calibration_set_id`, or a
            calibration set not embedded with the base model.
    """
    cache_dir = get_storage(con, cache_dir=cache_dir).cache
    progress = progress or no_progress
    class_id = check_new_class_id(con, spec.class_id, spec.name)
    methods = [complete_spec(m) for m in spec.methods]
    if not methods:
        raise ValueError("Choose at least one synthesis method.")
    texts = compute_class_texts(spec.name, spec.description, spec.texts)
    ensure_text_stats(con, scale_progress(progress, 0.0, 0.05))
    progress(0.05, "loading the base model")
    base = load_base_classifier(spec.model, cache_dir=cache_dir)
    device = resolve_device(spec.device)
    donors = load_donors_for_methods(
        con, base, methods, text_encoder=spec.text_encoder, cache_dir=cache_dir, device=device
    )
    inputs, vector = compute_new_inputs(donors, texts)  # fails on texts without usable tokens
    calibration = _load_calibration_set(con, spec, methods, base, cache_dir)
    builtin = None
    if any(uses_builtin_images(m.calibration) for m in methods):
        from extension.synthesis.builtin import load_builtin_calibration

        builtin = load_builtin_calibration(base, cache_dir=cache_dir, device=device)
    progress(0.3, "synthesizing")
    heads, written = [], []
    try:
        for i, method in enumerate(methods):
            progress(0.3 + 0.6 * i / len(methods), f"synthesizing with {describe_spec(method)}")
            heads.append(
                _synthesize_head(
                    donors,
                    texts,
                    inputs,
                    method,
                    spec,
                    class_id,
                    base,
                    builtin if uses_builtin_images(method.calibration) else calibration,
                    device,
                    folder=get_storage(con).heads / class_id,
                    primary=i == 0,
                )
            )
            written.append(Path(heads[-1]["path"]))
        _insert_draft(con, spec, class_id, donors, int((vector > 0).sum()), texts, heads)
    except Exception:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    progress(1.0, f"{class_id}: {len(heads)} row(s) synthesized")
    nearest = compute_preview_from_inputs(donors, texts, inputs, vector, k=5).nearest
    keys = ("method_label", "row_norm", "bias", "calibration", "path", "sha256")
    return {
        "wnid": class_id,
        "n_tokens": int((vector > 0).sum()),
        "nearest": {distance: frame.to_dicts() for distance, frame in nearest.items()},
        "heads": [{k: h[k] for k in keys} for h in heads],
    }


def _synthesize_head(
    donors, texts, inputs, method, spec, class_id, base, calibration, device, *, folder, primary
) -> dict:
    """Synthesize (and calibrate) one row and write its file; returns its table row."""
    rows, biases = compute_new_rows(
        donors,
        texts,
        method,
        class_id=class_id,
        calibration=calibration,
        inputs=inputs,
        device=device,
    )
    calibrated = method.calibration != "none"
    details = (
        {"source": calibration.source, "n_images": len(calibration.wnids)} if calibrated else {}
    )
    from_set = calibrated and not uses_builtin_images(method.calibration)
    path = folder / f"{_safe_name(describe_spec(method))}.safetensors"
    metadata = {
        "spec": method.to_json(),
        "model_key": base.model_key,
        "class_id": class_id,
        "texts_sha256": compute_texts_sha256(texts),
        "calibration": json.dumps(details),
    }
    _save_head(path, Head(rows, biases), metadata)
    return {
        "method_label": describe_spec(method),
        "spec_json": method.to_json(),
        "model_key": base.model_key,
        "model_json": spec.model.to_json(),
        "path": str(path),
        "sha256": hash_file(path),
        "row_norm": float(rows.norm()),
        "bias": float(biases[0]),
        "is_primary": primary,
        "calibration": method.calibration,
        "calibration_set_id": spec.calibration_set_id if from_set else None,
        "calibration_json": json.dumps(details) if calibrated else None,
    }


def list_calibration_sets(con: duckdb.DuckDBPyConnection, model_key: str) -> pl.DataFrame:
    """Registered image sets embedded with this base model (usable as calibration sets),
    newest first: `set_id`, `name`, `n_embedded`, `status` ('partial' | 'complete')."""
    from db.image_sets import list_image_sets

    return (
        list_image_sets(con)
        .filter((pl.col("model_key") == model_key) & (pl.col("n_embedded") > 0))
        .select("set_id", "name", "n_embedded", "status")
    )


def _load_calibration_set(
    con, spec: AddClassSpec, methods, base: BaseClassifier, cache_dir: Path
) -> CalibrationImages | None:
    """The registered calibration set's embedded images, when a method needs them.

    Raises:
        ValueError: a calibrated method without a set, or a set not embedded with the model.
    """
    from extension.images.sets import load_set_features

    calibrated = [describe_spec(m) for m in methods if needs_calibration_images(m.calibration)]
    if not calibrated:
        return None
    if spec.calibration_set_id is None:
        raise ValueError(
            f"{calibrated[0]} sets its bias on unlabeled photos: choose a registered image set "
            "(calibration_set_id), or use a method without image calibration."
        )
    features, items = load_set_features(
        con, spec.calibration_set_id, base.model_key, cache_dir=cache_dir
    )
    features = features.float()
    return CalibrationImages(
        features,
        features @ base.head.weight.T + base.head.bias,
        tuple(items["wnid"].to_list()),
        f"image set {spec.calibration_set_id}",
        base.head,
    )


def _insert_draft(
    con, spec: AddClassSpec, class_id: str, donors: Donors, n_tokens: int, texts, heads
) -> None:
    row = {
        "wnid": class_id,
        "name": spec.name.strip(),
        "description": spec.description,
        "texts_json": json.dumps(list(spec.texts)),
        "texts_sha256": compute_texts_sha256(texts),
        "spec_json": spec.to_json(),
        "text_build_id": donors.build["build_id"],
        "text_fingerprint": donors.build["fingerprint"],
        "n_tokens": n_tokens,
        "created_by": spec.actor,
    }
    transaction(con, lambda tx: added_db.insert_added_class(tx, row, heads))


def keep_added_class(
    con: duckdb.DuckDBPyConnection,
    wnid: str,
    *,
    primary_method: str | None = None,
    actor: str | None = None,
) -> dict:
    """Keep a draft: add it to the catalog and choose the row that export uses; the typed
    description becomes the class's active description unless one is chosen already.

    Raises:
        ValueError: no such draft, or an unknown method label.
    """
    access.require(con, actor, "manage_classes")
    draft = added_db.get_added_class(con, wnid)
    if draft is None:
        raise ValueError(f"No added class {wnid!r}.")
    labels = added_db.list_synthesized_heads(con, wnid=wnid)["method_label"].to_list()
    primary = primary_method or labels[0]
    if primary not in labels:
        raise ValueError(f"{wnid!r} has no row from {primary!r}; valid: {labels}")

    def work(tx: duckdb.DuckDBPyConnection) -> None:
        if class_db.get_class(tx, wnid) is None:
            add_class(tx, class_id=wnid, name=draft["name"])
        added_db.update_added_class_kept(tx, wnid, primary)
        # What the curator typed becomes the class's description (with its history), unless
        # one is chosen already; by whoever typed it, else whoever keeps it.
        adopt_typed_description(
            tx, wnid, text=draft["description"], actor=draft["created_by"] or actor
        )

    transaction(con, work)
    return added_db.get_added_class(con, wnid)


def discard_added_class(
    con: duckdb.DuckDBPyConnection, wnid: str, *, actor: str | None = None
) -> int:
    """Delete an added class, its rows and the head files this database wrote.

    Only files under this database's storage root (`heads/`) are deleted: a head file recorded
    elsewhere (the shared `heads/` folder beside the database of older versions, which another
    database in the same folder may also record) is left on disk.

    Returns:
        How many head files were removed.
    """
    access.require(con, actor, "manage_classes")
    if added_db.get_added_class(con, wnid) is None:
        raise ValueError(f"No added class {wnid!r}.")
    paths = transaction(con, lambda tx: added_db.delete_added_class(tx, wnid))
    own = get_storage(con).heads.resolve()
    removed = 0
    for path in map(Path, paths):
        if path.resolve().is_relative_to(own) and path.is_file():
            path.unlink()
            removed += 1
    return removed


def load_head_file(path: Path, *, sha256: str | None = None) -> Head:
    """A saved row (1, D) and bias (1,), checked against its recorded sha256.

    Raises:
        ValueError: the file changed since it was recorded.
    """
    from contract.weights import load_safetensors

    if sha256 is not None and hash_file(Path(path)) != sha256:
        raise ValueError(
            f"Head file {path} does not match its recorded sha256 (edited or replaced)."
        )
    data = load_safetensors(path, what="head file")
    return Head(data["weight"], data["bias"])


def _save_head(path: Path, head: Head, metadata: dict[str, str]) -> None:
    """Write a row file atomically (a temporary name, then a rename onto `path`)."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_file(
            {"weight": head.weight.contiguous(), "bias": head.bias.contiguous()},
            str(tmp),
            metadata=metadata,
        )
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _safe_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label)


def compute_image_ranking(
    features: torch.Tensor, base: Head, added: Head, names: list[str], *, k: int = 5
) -> pl.DataFrame:
    """Top-k classes of each image under the extended head (base rows + added rows).

    Args:
        features: (N, D) pre-logits features.
        base: (C, D) trained head; added: (A, D) synthesized rows.
        names: (C + A,) display names in head order.
    """
    logits = features @ torch.cat([base.weight, added.weight]).T + torch.cat(
        [base.bias, added.bias]
    )
    probs = torch.softmax(logits, dim=1)
    vals, idx = torch.topk(probs, k, dim=1)
    return pl.DataFrame(
        {
            "image": list(range(features.shape[0])),
            "top_classes": [[names[j] for j in row] for row in idx.tolist()],
            "top_probs": [[round(v, 4) for v in row] for row in vals.tolist()],
        }
    )
