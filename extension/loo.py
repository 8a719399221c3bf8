"""Leave-one-out benchmark: synthesize every base class from the other classes only.

For a target class c, its own head row and bias are never used (masked donor), its text
vector is only the query (masked in the kernel/Gram for `ridge`), and the metrics compare
the synthesized row with the trained row and, with an image set, rank the images.
Known, documented leak shared with the paper: the vocabulary (tokens in more than 90 % of
classes are dropped) is computed over all classes, c included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import torch

from curation.catalog import load_imagenet1k_wnids
from extension.base import Donors, compute_loo_inputs, load_donors
from extension.embeddings import ImageSet, load_image_set
from extension.metrics import compute_one_vs_rest, compute_thousand_way
from extension.models import (
    DEFAULT_CACHE_DIR,
    Head,
    compute_model_key,
    get_head,
    load_base_model,
    resolve_device,
)
from extension.specs import LooSpec, SynthesisSpec
from extension.synthesis import complete_spec, compute_rows, describe_spec

Progress = Callable[[float, str], None]
# The image metrics of a leave-one-out summary (means over the left-out classes with images).
IMAGE_SUMMARY_KEYS = (
    "auroc_mean",
    "ap_mean",
    "f1_mean",
    "top1",
    "top5",
    "gen_precision",
    "gen_recall",
    "gen_f1",
)


@dataclass(frozen=True)
class LabeledImages:
    """Embedded images of base classes.

    Attributes:
        features: (N, D) pre-logits features.
        labels: (N,) class index in the full head of each image.
        trained_logits: (N, C_all) logits of the full trained head.
    """

    features: torch.Tensor
    labels: torch.Tensor
    trained_logits: torch.Tensor


def compute_labeled_images(images: ImageSet, head: Head, class_wnids: list[str]) -> LabeledImages:
    """Keep the images of known classes; attach head indices and trained logits.

    Raises:
        ValueError: no image folder is named after a base class.
    """
    index = {w: i for i, w in enumerate(class_wnids)}
    keep = [i for i, w in enumerate(images.wnids) if w in index]
    if not keep:
        raise ValueError("No image folder is named after a base class wnid (e.g. n01443537).")
    features = images.features[keep].float()
    labels = torch.tensor([index[images.wnids[i]] for i in keep])
    return LabeledImages(features, labels, features @ head.weight.T + head.bias)


def compute_loo(
    donors: Donors,
    spec: SynthesisSpec,
    targets: list[str] | None,
    images: LabeledImages | None,
    *,
    device: torch.device | None = None,
) -> tuple[dict, pl.DataFrame]:
    """Leave-one-out for the targets (default: every donor) with one method.

    Returns:
        (summary dict, per-class frame).
    """
    spec = complete_spec(spec)
    start = time.perf_counter()
    inputs, targets = compute_loo_inputs(donors, targets, features=spec.features)
    rows, biases = compute_rows(inputs, spec, device=device)  # (T, D), (T,)
    trained = donors.head.weight[inputs.exclude].float()
    row_cosine = torch.nn.functional.cosine_similarity(rows, trained, dim=1)
    per_class = pl.DataFrame(
        {
            "wnid": targets,
            "row_cosine": row_cosine.tolist(),
            "row_norm": rows.norm(dim=1).tolist(),
            "trained_norm": trained.norm(dim=1).tolist(),
        }
    )
    summary = {
        "method": describe_spec(spec),
        "spec": spec.to_dict(),
        "n_classes": len(targets),
        "row_cosine_mean": float(row_cosine.mean()),
    }
    if images is not None:
        image_frame, image_summary = _compute_image_metrics(
            donors, inputs.exclude, rows, biases, images
        )
        per_class = per_class.join(image_frame, on="wnid", how="left")
        summary.update(image_summary)
    summary["compute_seconds"] = time.perf_counter() - start
    return summary, per_class


def _compute_image_metrics(
    donors: Donors,
    exclude: torch.Tensor,
    rows: torch.Tensor,
    biases: torch.Tensor,
    images: LabeledImages,
) -> tuple[pl.DataFrame, dict]:
    head_index = donors.class_indices[exclude]  # (T,) rows of the full head
    with_images = torch.isin(head_index, images.labels)
    if not bool(with_images.any()):
        raise ValueError("None of the left-out classes has images in the image set.")
    cols = torch.nonzero(with_images).squeeze(1)
    scores = images.features @ rows[cols].T + biases[cols]  # (N, T')
    positives = images.labels[:, None] == head_index[cols][None, :]
    n_classes = int(torch.unique(images.labels).numel())
    ovr = compute_one_vs_rest(scores.double(), positives, n_classes=n_classes)
    trained = compute_one_vs_rest(
        images.trained_logits[:, head_index[cols]].double(), positives, n_classes=n_classes
    )
    way = compute_thousand_way(images.trained_logits, scores, head_index[cols], positives)
    frame = pl.DataFrame(
        {
            "wnid": [donors.wnids[i] for i in exclude[cols].tolist()],
            "auroc": ovr["auroc"].tolist(),
            "ap": ovr["ap"].tolist(),
            "f1": ovr["f1"].tolist(),
            "trained_auroc": trained["auroc"].tolist(),
            "top1": way["top1"].tolist(),
            "top5": way["top5"].tolist(),
            "gen_precision": way["precision"].tolist(),
            "gen_f1": way["f1"].tolist(),
        }
    )
    summary = {
        "n_image_classes": len(cols),
        "n_images": int(images.labels.numel()),
        "auroc_mean": float(ovr["auroc"].mean()),
        "ap_mean": float(ovr["ap"].mean()),
        "f1_mean": float(ovr["f1"].mean()),
        "trained_auroc_mean": float(trained["auroc"].mean()),
        "trained_ap_mean": float(trained["ap"].mean()),
        "top1": float(way["top1"].mean()),
        "top5": float(way["top5"].mean()),
        "gen_precision": float(way["precision"].mean()),
        "gen_recall": float(way["top1"].mean()),
        "gen_f1": float(way["f1"].mean()),
    }
    return frame, summary


def load_base(
    con: duckdb.DuckDBPyConnection, spec: LooSpec, *, cache_dir: Path = DEFAULT_CACHE_DIR
):
    """(model, head, class wnids, donors) for a spec's base model."""
    model = load_base_model(spec.model, cache_dir=cache_dir)
    head = get_head(model)
    if head.weight.shape[0] != 1000:
        raise ValueError(
            f"The base model has {head.weight.shape[0]} classes; leave-one-out needs an "
            "ImageNet-1k head (1000 rows in timm's imagenet_synsets.txt order)."
        )
    class_wnids = list(load_imagenet1k_wnids())
    return model, head, class_wnids, load_donors(con, head, class_wnids)


def run_loo(
    con: duckdb.DuckDBPyConnection,
    spec: LooSpec,
    progress: Progress | None = None,
    *,
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> dict:
    """Job entry point: leave-one-out for every method of the spec.

    Returns:
        {"results": [summary per method], "per_class": {label: rows}}.
    """
    progress = progress or (lambda fraction, message: None)
    progress(0.0, "loading the base model and text statistics")
    model, head, class_wnids, donors = load_base(con, spec, cache_dir=cache_dir)
    device = resolve_device(spec.device)
    images = None
    if spec.images_dir:
        image_set = load_image_set(
            model,
            compute_model_key(spec.model, cache_dir=cache_dir),
            Path(spec.images_dir),
            max_per_class=spec.max_images_per_class,
            device=device,
            cache_dir=cache_dir,
            progress=lambda f, m: progress(0.1 + 0.6 * f, m),
        )
        images = compute_labeled_images(image_set, head, class_wnids)
    targets = list(spec.classes) or None
    results, per_class = [], {}
    for i, method in enumerate(spec.methods):
        progress(0.7 + 0.3 * i / len(spec.methods), f"leave-one-out: {method.label}")
        summary, frame = compute_loo(donors, method, targets, images, device=device)
        results.append(summary)
        per_class[summary["method"]] = frame.to_dicts()
    progress(1.0, "done")
    return {"results": results, "per_class": per_class}
