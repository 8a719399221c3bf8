"""Leave-one-out benchmark: synthesize every base class from the other classes only.

For a target class c, its own head row and bias are never used (masked donor), its text
vector is only the query (masked in the kernel/Gram for `ridge`), and the metrics compare
the synthesized row with the trained row and, with an image set, rank the images.
Known, documented leak shared with the paper: the vocabulary (tokens in more than 90 % of
classes are dropped) is computed over all classes, c included. A second, smaller one for the
fitted calibration (`zscore-fit`): the rows of the calibration set's classes that choose z
are synthesized from all donors, so c's trained row is one of about 999 donors of each; the
chosen z is one grid value for all of them (a new class has no trained row, so none there).

Calibrated methods set each row's bias on a separate set of calibration images (never the
scored set), from which the left-out class's own images are excluded; the summary leads with
the 1000-way test (precision, recall, F1, hit@1, hit@5 among the 1000 candidates: the
synthesized row and the 999 other trained rows), then zero-shot hit@k among the synthesized
rows only (`zs_hit1`, `zs_hit5`: every target left out at once, no trained row competing),
then the one-vs-rest ranking metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import torch

from contract.devices import resolve_device
from contract.progress import Progress, no_progress, scale_progress
from db.storage import get_storage
from extension.evaluation.metrics import (
    compute_hit_at_k,
    compute_one_vs_rest,
    compute_thousand_way,
)
from extension.images.files import list_image_folder
from extension.images.store import load_features
from extension.models import BaseClassifier, load_base_classifier
from extension.specs import LooSpec, SynthesisSpec
from extension.synthesis.calibration import (
    CalibrationImages,
    needs_calibration_images,
    uses_builtin_images,
)
from extension.synthesis.donors import (
    Donors,
    compute_loo_inputs,
    compute_loo_rows,
    load_donors_for_methods,
)
from extension.synthesis.methods import complete_spec, describe_spec
from extension.text.store import ensure_text_stats

# The image metrics of a leave-one-out summary (means over the left-out classes with images),
# headline first: the 1000-way test.
IMAGE_SUMMARY_KEYS = (
    "gen_precision",
    "pool_images",  # beside the precision: the photos a row can wrongly win grow with it
    "gen_recall",
    "gen_f1",
    "hit1",
    "hit5",
    "zs_hit1",
    "zs_hit5",
    "auroc_mean",
    "ap_mean",
    "f1_mean",
)


@dataclass(frozen=True)
class LabeledImages:
    """Embedded images of base classes.

    Attributes:
        features: (N, D) pre-logits features.
        labels: (N,) class index in the full head of each image.
        trained_logits: (N, C_all) logits of the full trained head.
        embedding: what the feature store did: `n_new` embedded now, `n_cached` found,
            `n_failed` unreadable.
    """

    features: torch.Tensor
    labels: torch.Tensor
    trained_logits: torch.Tensor
    embedding: dict = field(default_factory=dict)


def load_labeled_images(
    base: BaseClassifier,
    images_dir: Path,
    *,
    max_per_class: int = 0,
    cache_dir: Path | None = None,
    device: str = "cpu",
    progress: Progress | None = None,
) -> LabeledImages:
    """Features of the images of base classes under `images_dir/<wnid>/` (feature store).

    Raises:
        FileNotFoundError, ValueError: no folder, no images, or no folder named after a base
            class wnid (e.g. n01443537).
    """
    index = base.row_of()
    files = [(w, p) for w, p in list_image_folder(images_dir, max_per_class=max_per_class)]
    known = [(w, p) for w, p in files if w in index]
    if not known:
        raise ValueError(
            f"No image folder under {images_dir} is named after a base class wnid (e.g. n01443537)."
        )
    features, kept, report = load_features(
        base.model,
        [p for _, p in known],
        model_key=base.model_key,
        cache_dir=cache_dir,
        device=device,
        progress=progress,
    )
    labels = torch.tensor([index[known[i][0]] for i in kept])
    features = features.float()
    embedding = {"n_new": report.n_new, "n_cached": report.n_cached, "n_failed": len(report.errors)}
    return LabeledImages(
        features, labels, features @ base.head.weight.T + base.head.bias, embedding
    )


def compute_calibration_images(
    base: BaseClassifier, images: LabeledImages, *, source: str
) -> CalibrationImages:
    """The labelled images as an unlabeled calibration set (folder wnids kept only so that a
    left-out class's own images can be excluded from its calibration)."""
    return CalibrationImages(
        images.features,
        images.trained_logits,
        tuple(base.class_wnids[i] for i in images.labels.tolist()),
        source,
        base.head,
    )


def compute_loo(
    donors: Donors,
    spec: SynthesisSpec,
    targets: list[str] | None,
    images: LabeledImages | None,
    *,
    calibration: CalibrationImages | None = None,
    device: str | None = None,
) -> tuple[dict, pl.DataFrame]:
    """Leave-one-out for the targets (default: every donor) with one method.

    Args:
        calibration: unlabeled images that calibrated methods set the biases on (never
            `images`; a target's own images in it are excluded from its calibration).

    Returns:
        (summary dict, per-class frame).
    """
    spec = complete_spec(spec)
    start = time.perf_counter()
    inputs, targets = compute_loo_inputs(donors, targets, features=spec.features)
    rows, biases = compute_loo_rows(donors, targets, spec, calibration=calibration, device=device)
    trained = donors.head.weight[inputs.exclude].float()
    row_cosine = torch.nn.functional.cosine_similarity(rows, trained, dim=1)
    per_class = pl.DataFrame(
        {
            "wnid": targets,
            "row_cosine": row_cosine.tolist(),
            "row_norm": rows.norm(dim=1).tolist(),
            "trained_norm": trained.norm(dim=1).tolist(),
            "bias": biases.tolist(),
        }
    )
    summary = {"method": describe_spec(spec)}
    if images is not None:
        image_frame, image_summary = _compute_image_metrics(
            donors, inputs.exclude, rows, biases, images
        )
        per_class = per_class.join(image_frame, on="wnid", how="left")
        summary.update(image_summary)
    summary.update(
        {
            "n_classes": len(targets),
            "row_cosine_mean": float(row_cosine.mean()),
            "calibration_images": calibration.source if calibration is not None else None,
            "spec": spec.to_dict(),
            "compute_seconds": time.perf_counter() - start,
        }
    )
    if spec.calibration == "none":
        summary["calibration_images"] = None
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
    scores = (images.features @ rows[cols].T + biases[cols]).double().numpy()  # (N, T')
    positives = (images.labels[:, None] == head_index[cols][None, :]).numpy()
    n_classes = int(torch.unique(images.labels).numel())
    ovr = compute_one_vs_rest(scores, positives, n_classes=n_classes)
    trained_scores = images.trained_logits[:, head_index[cols]].double().numpy()
    trained = compute_one_vs_rest(trained_scores, positives, n_classes=n_classes)
    way = compute_thousand_way(
        images.trained_logits.numpy(), scores, head_index[cols].numpy(), positives
    )
    zero_shot = _compute_zero_shot_hits(head_index, rows, biases, images)
    frame = pl.DataFrame(
        {
            "wnid": [donors.wnids[i] for i in exclude[cols].tolist()],
            "gen_precision": way["precision"].tolist(),
            "gen_recall": way["top1"].tolist(),
            "gen_f1": way["f1"].tolist(),
            "hit5": way["top5"].tolist(),
            "n_won": way["n_won"].tolist(),
            "auroc": ovr["auroc"].tolist(),
            "ap": ovr["ap"].tolist(),
            "f1": ovr["f1"].tolist(),
            "trained_auroc": trained["auroc"].tolist(),
        }
    )
    summary = {
        "gen_precision": float(way["precision"].mean()),
        # every photo of the set competes in the argmax: a row's precision falls as the pool
        # of other photos grows, so it is only comparable at the same pool
        "pool_images": int(images.labels.numel()),
        "gen_recall": float(way["top1"].mean()),
        "gen_f1": float(way["f1"].mean()),
        "hit1": float(way["top1"].mean()),
        "hit5": float(way["top5"].mean()),
        **zero_shot,
        "auroc_mean": float(ovr["auroc"].mean()),
        "ap_mean": float(ovr["ap"].mean()),
        "f1_mean": float(ovr["f1"].mean()),
        "trained_auroc_mean": float(trained["auroc"].mean()),
        "trained_ap_mean": float(trained["ap"].mean()),
        "n_image_classes": len(cols),
        "n_images": int(images.labels.numel()),
        "pool_classes": n_classes,
    }
    return frame, summary


def _compute_zero_shot_hits(
    head_index: torch.Tensor, rows: torch.Tensor, biases: torch.Tensor, images: LabeledImages
) -> dict:
    """hit@1/hit@5 over the images of target classes, candidates = the synthesized rows only
    (mean over those classes, like the other per-class means)."""
    column = {int(h): t for t, h in enumerate(head_index.tolist())}
    keep = torch.tensor([int(label) in column for label in images.labels.tolist()])
    labels = images.labels[keep]
    true = torch.tensor([column[int(label)] for label in labels.tolist()], dtype=torch.long)
    scores = (images.features[keep] @ rows.T + biases).double().numpy()  # (N', T)
    hits = compute_hit_at_k(scores, true.numpy(), ks=(1, 5))
    out = {}
    for k, hit in hits.items():
        per_class = [hit[(true == t).numpy()].mean() for t in torch.unique(true).tolist()]
        out[f"zs_hit{k}"] = float(sum(per_class) / len(per_class))
    return out


def run_loo(
    con: duckdb.DuckDBPyConnection,
    spec: LooSpec,
    progress: Progress | None = None,
    *,
    cache_dir: Path | None = None,
) -> dict:
    """Job entry point: leave-one-out for every method of the spec.

    Returns:
        {"results": [summary per method], "per_class": {label: rows}, "embedding": what the
        feature store did (empty without images)}.
    """
    cache_dir = get_storage(con, cache_dir=cache_dir).cache
    progress = progress or no_progress
    progress(0.0, "text statistics")
    ensure_text_stats(con, scale_progress(progress, 0.0, 0.05))
    progress(0.05, "loading the base model")
    base = load_base_classifier(spec.model, cache_dir=cache_dir)
    methods = [complete_spec(m) for m in spec.methods]
    device = resolve_device(spec.device)
    donors = load_donors_for_methods(
        con, base, methods, text_encoder=spec.text_encoder, cache_dir=cache_dir, device=device
    )
    images, calibration = _load_loo_images(spec, methods, base, cache_dir, device, progress)
    targets = list(spec.classes) or None
    results, per_class, builtin = [], {}, None
    for i, method in enumerate(methods):
        progress(0.7 + 0.3 * i / len(methods), f"leave-one-out: {method.label}")
        method_calibration = calibration
        if uses_builtin_images(method.calibration):
            if builtin is None:
                from extension.synthesis.builtin import load_builtin_calibration

                builtin = load_builtin_calibration(base, cache_dir=cache_dir, device=device)
            method_calibration = builtin
        summary, frame = compute_loo(
            donors, method, targets, images, calibration=method_calibration, device=device
        )
        results.append(summary)
        per_class[summary["method"]] = frame.to_dicts()
    progress(1.0, "done")
    embedding = images.embedding if images is not None else {}
    return {"results": results, "per_class": per_class, "embedding": embedding}


def _load_loo_images(spec: LooSpec, methods, base, cache_dir: Path, device: str, progress):
    """(scored images or None, calibration images or None) of a leave-one-out run.

    Raises:
        ValueError: a calibrated method without calibration images, or the calibration
            folder is the scored folder.
    """
    images = calibration = None
    if spec.images_dir:
        images = load_labeled_images(
            base,
            Path(spec.images_dir),
            max_per_class=spec.max_images_per_class,
            cache_dir=cache_dir,
            device=device,
            progress=scale_progress(progress, 0.1, 0.6),
        )
    calibrated = [m.label for m in methods if needs_calibration_images(m.calibration)]
    if calibrated and not spec.calibration_images_dir:
        raise ValueError(
            f"{calibrated[0]} is calibrated on unlabeled images: pass --calibration-images DIR "
            "(a folder other than --images)."
        )
    if spec.calibration_images_dir:
        folder = Path(spec.calibration_images_dir)
        if spec.images_dir and folder.resolve() == Path(spec.images_dir).resolve():
            raise ValueError(
                "--calibration-images must not be the scored --images folder: a calibration "
                "that looks at the scored photos overstates precision."
            )
        labeled = load_labeled_images(
            base,
            folder,
            cache_dir=cache_dir,
            device=device,
            progress=scale_progress(progress, 0.6, 0.7),
        )
        _check_disjoint(images, labeled)
        calibration = compute_calibration_images(base, labeled, source=str(folder))
    return images, calibration


def _check_disjoint(images: LabeledImages | None, calibration: LabeledImages) -> None:
    """Raises ValueError when a scored photo is also a calibration photo (same features)."""
    if images is None:
        return
    scored = {row.numpy().tobytes() for row in images.features}
    shared = sum(row.numpy().tobytes() in scored for row in calibration.features)
    if shared:
        raise ValueError(
            f"{shared} calibration photos are also in the scored --images set: calibrate on "
            "photos that are never scored."
        )
