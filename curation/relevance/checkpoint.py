"""Relevance checkpoints on disk.

Layout of a run directory::

    relevance.json          mode, class set (wnids in output-row order), encoder, spec
    split.parquet           caption_id, split ('train' | 'test'): what the model trained on
    encoder/                the encoder's config.json and tokenizer files
    epoch-001/model.safetensors   all weights (encoder + head)
    epoch-001/train_state.pt      optimizer, scaler, epoch, RNG: tensors and primitives only,
                                  loaded with torch.load(weights_only=True)

A frozen-mode run directory holds relevance.json (with the encoder key of its features),
heads.safetensors and folds.parquet instead (see `frozen.py`).

A checkpoint is refused when it was made for another class set, encoder or mode.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from contract.files import hash_file
from contract.weights import load_tensor_pickle, reading_weights

META_FILE = "relevance.json"
ENCODER_DIR = "encoder"
WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "train_state.pt"
SPLIT_FILE = "split.parquet"
FORMAT_VERSION = 1


class CheckpointMismatchError(ValueError):
    """A checkpoint made for another class set or encoder."""


def epoch_dir(run_dir: str | Path, epoch: int) -> Path:
    return Path(run_dir) / f"epoch-{epoch:03d}"


def save_run_files(run_dir: str | Path, *, meta: dict, encoder, tokenizer) -> None:
    """Write relevance.json and the encoder's config + tokenizer (once per run)."""
    run_dir = Path(run_dir)
    (run_dir / ENCODER_DIR).mkdir(parents=True, exist_ok=True)
    encoder.config.save_pretrained(run_dir / ENCODER_DIR)
    tokenizer.save_pretrained(run_dir / ENCODER_DIR)
    save_run_meta(run_dir, meta)


def save_run_meta(run_dir: str | Path, meta: dict) -> None:
    """Write relevance.json (the format version added)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT_VERSION, **meta}
    (run_dir / META_FILE).write_text(json.dumps(payload, indent=2, sort_keys=True), "utf-8")


def save_caption_table(run_dir: str | Path, name: str, frame) -> None:
    """Write a per-caption table of a run (split.parquet, folds.parquet)."""
    frame.write_parquet(Path(run_dir) / name)


def load_caption_table(run_dir: str | Path, name: str):
    """A per-caption table of a run as a polars frame, or None when the run has none."""
    import polars as pl

    path = Path(run_dir) / name
    return pl.read_parquet(path) if path.exists() else None


def load_run_meta(run_dir: str | Path) -> dict | None:
    """relevance.json of a run directory, or None when there is none."""
    path = Path(run_dir) / META_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"Checkpoint file {path} is not valid JSON ({exc}).") from exc


def check_compatible(
    meta: dict, *, class_wnids=None, encoder: str | None = None, mode: str | None = None, where=""
) -> None:
    """Refuse a checkpoint made for another class set, encoder or mode.

    Raises:
        CheckpointMismatchError: with what differs (counts and a few example wnids).
    """
    if class_wnids is not None and list(meta["class_wnids"]) != list(class_wnids):
        have, want = set(meta["class_wnids"]), set(class_wnids)
        raise CheckpointMismatchError(
            f"Checkpoint {where} was made for another class set: it has "
            f"{len(meta['class_wnids'])} classes, this data has {len(class_wnids)} "
            f"(only in checkpoint: {sorted(have - want)[:5]}, only in data: "
            f"{sorted(want - have)[:5]}{', same classes in another order' if have == want else ''}"
            "). Train a new model into another checkpoint directory."
        )
    if meta.get("mode", "finetune") != (mode or meta.get("mode", "finetune")):
        raise CheckpointMismatchError(
            f"Checkpoint {where} is a {meta.get('mode', 'finetune')}-mode run, not {mode}: "
            "train into another checkpoint directory."
        )
    if encoder is not None and meta["encoder"] != encoder:
        raise CheckpointMismatchError(
            f"Checkpoint {where} was made with encoder {meta['encoder']!r}, not {encoder!r}. "
            "Use the same encoder, or train into another checkpoint directory."
        )


def list_saved_epochs(run_dir: str | Path) -> list[int]:
    """Epochs with complete files (weights and train state), ascending."""
    found = []
    for path in Path(run_dir).glob("epoch-*"):
        if (path / WEIGHTS_FILE).exists() and (path / STATE_FILE).exists():
            found.append(int(path.name.split("-", 1)[1]))
    return sorted(found)


def save_epoch(run_dir: str | Path, epoch: int, *, model, train_state: dict) -> tuple[str, str]:
    """Write one epoch's weights and train state (to a temp dir, then renamed, so a crash
    never leaves a half-written checkpoint).

    Returns:
        (weights path, sha256).
    """
    import torch
    from safetensors.torch import save_model

    final = epoch_dir(run_dir, epoch)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, str(tmp / WEIGHTS_FILE))
    torch.save(train_state, tmp / STATE_FILE)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    weights = final / WEIGHTS_FILE
    return str(weights), hash_file(weights)


def load_train_state(run_dir: str | Path, epoch: int) -> dict:
    """The train state of one epoch (weights_only=True: tensors and primitives only).

    Raises:
        contract.weights.WeightsFileError: missing, corrupt, or holding other objects (refused).
    """
    return load_tensor_pickle(epoch_dir(run_dir, epoch) / STATE_FILE, what="Train state")


def load_relevance_model(
    run_dir: str | Path,
    *,
    weights_path: str | Path | None = None,
    class_wnids=None,
    encoder: str | None = None,
    expected_sha256: str | None = None,
):
    """Rebuild a relevance model from a run directory and one epoch's weights.

    Args:
        weights_path: a model.safetensors (default: the latest saved epoch).
        class_wnids, encoder: when given, the checkpoint must match them.
        expected_sha256: when given, the weights file must have this hash.

    Returns:
        (model in eval mode on the CPU, tokenizer, meta dict).
    """
    from safetensors.torch import load_model
    from transformers import AutoTokenizer

    from curation.relevance.model import build_encoder_from_config, create_relevance_model

    meta = load_run_meta(run_dir)
    if meta is None:
        raise FileNotFoundError(
            f"{run_dir} is not a relevance checkpoint directory (no {META_FILE})"
        )
    check_compatible(meta, class_wnids=class_wnids, encoder=encoder, where=str(run_dir))
    if weights_path is None:
        epochs = list_saved_epochs(run_dir)
        if not epochs:
            raise FileNotFoundError(f"{run_dir} has no saved epoch")
        weights_path = epoch_dir(run_dir, epochs[-1]) / WEIGHTS_FILE
    if not Path(weights_path).exists():
        raise FileNotFoundError(f"checkpoint weights {weights_path} are missing (pruned or moved)")
    if expected_sha256 and hash_file(weights_path) != expected_sha256:
        raise CheckpointMismatchError(
            f"{weights_path} changed since it was recorded (sha256 differs): refusing to use it"
        )
    encoder_module = build_encoder_from_config(Path(run_dir) / ENCODER_DIR)
    model = create_relevance_model(
        encoder_module, n_classes=len(meta["class_wnids"]), dropout=meta["dropout"]
    )
    with reading_weights(weights_path, what="Checkpoint weights") as checked:
        load_model(model, str(checked), strict=True)
    tokenizer = AutoTokenizer.from_pretrained(
        str(Path(run_dir) / ENCODER_DIR), local_files_only=True
    )
    return model.eval(), tokenizer, meta


def make_run_dir(name: str, mode: str, *, root: str | Path) -> Path:
    """A new run folder `<root>/<name>-<mode>-<UTC time>` (not created), for a new run.

    `root` is the storage root's relevance/ folder (`db.storage.get_storage(con).relevance`).
    """
    import datetime as dt
    import re

    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip()).strip("-.") or "relevance"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{slug}-{mode}-{stamp}"
