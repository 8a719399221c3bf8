"""Calibrate a synthesized row against the trained rows, without any label of the new class.

A synthesized row (weight w, bias b) competes in the argmax with the trained rows. On an
image with features f it wins when `w.f + b > max_c (trained logit c)`, i.e. when the bias is
above the image's *margin* `m(f) = max_c logit_c(f) - w.f` (for leave-one-out the class's
own trained row is not a competitor: it is the row being replaced). A calibration sets the
bias (and may rescale the row) from the margins on a set of unlabeled *calibration* images
or from statistics of the trained rows, so the row claims a plausible share of images
instead of none (too small a bias) or its neighbours' (too large).

Rules (a registry like the synthesis methods; `SynthesisSpec.calibration` names one):
- `none`: the bias as synthesized.
- `zscore`: b = mean(m) - z * std(m) over the calibration images: the row wins where its
  margin is z standard deviations below the mean (calibrated stacking, per row).
- `share`: b = the `share` quantile of m: the row wins that share of calibration images.
- `zscore-trained`: like `zscore` with z = the median z that the trained rows' own biases
  have on the same images (no parameter: statistics of the trained rows).

Label-free contract: the calibration images are never the scored images, and the images of
the class being synthesized (folder named by its wnid or class id), if any, are excluded
from its own calibration, so changing them cannot change its row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from extension.models import Head

CalibrationFn = Callable[["CalibrationContext", dict], torch.Tensor]
_CALIBRATIONS: dict[str, tuple[CalibrationFn, dict, bool]] = {}


@dataclass(frozen=True)
class CalibrationImages:
    """Unlabeled images the rows are calibrated on.

    Attributes:
        features: (M, D) pre-logits features.
        trained_logits: (M, C_all) logits of the full trained head.
        wnids: (M,) folder wnid (or class id) of each image, only to exclude the images of
            the class being synthesized ('' when unknown).
        source: where they came from (a folder, or 'image set <id>'), for provenance.
        head: the full trained head the logits come from (the rows the new row competes with).
    """

    features: torch.Tensor
    trained_logits: torch.Tensor
    wnids: tuple[str, ...]
    source: str
    head: Head


@dataclass(frozen=True)
class CalibrationContext:
    """What a calibration rule may use (float64).

    Attributes:
        margins: (M, T) margin of each calibration image for each row; NaN where the image
            belongs to the row's own class (excluded).
        scores: (M, T) `w.f` of each row (no bias), NaN where excluded.
        images: the calibration images (with the full trained head).
    """

    margins: torch.Tensor
    scores: torch.Tensor
    images: CalibrationImages


def register_calibration(
    name: str, *, defaults: dict, needs_images: bool = True
) -> Callable[[CalibrationFn], CalibrationFn]:
    """Decorator: `fn(context, params) -> biases (T,)`."""

    def decorate(fn: CalibrationFn) -> CalibrationFn:
        _CALIBRATIONS[name] = (fn, dict(defaults), needs_images)
        return fn

    return decorate


def list_calibrations() -> list[str]:
    """Registered calibration names."""
    return list(_CALIBRATIONS)


def needs_calibration_images(name: str) -> bool:
    """True when the calibration reads unlabeled images (a calibration set is required)."""
    return name != "none" and _get(name)[2]


def complete_calibration(name: str, params: dict) -> tuple[tuple[str, object], ...]:
    """Sorted parameters with the defaults filled in, validated.

    Raises:
        ValueError: unknown calibration or parameter names.
    """
    _, defaults, _ = _get(name)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"Calibration {name!r} has no parameters {unknown}; valid: {sorted(defaults)}"
        )
    return tuple(sorted({**defaults, **params}.items()))


def _get(name: str) -> tuple[CalibrationFn, dict, bool]:
    if name not in _CALIBRATIONS:
        raise ValueError(f"Unknown calibration {name!r}; valid: {list_calibrations()}")
    return _CALIBRATIONS[name]


def compute_calibrated_biases(
    rows: torch.Tensor,
    biases: torch.Tensor,
    calibration: str,
    params: dict,
    images: CalibrationImages | None,
    *,
    class_ids: list[str],
    replace: torch.Tensor,
) -> torch.Tensor:
    """The calibrated biases (T,) of synthesized rows (T, D).

    Args:
        calibration, params: a registered rule and its (completed) parameters.
        images: the calibration set (required unless the rule is 'none').
        class_ids: (T,) the wnid or class id of each row (its images are excluded).
        replace: (T,) the trained row each synthesized row replaces (leave-one-out), -1 none.

    Raises:
        ValueError: a rule that needs images without a calibration set, or a set that has
            no image outside a row's own class.
    """
    if calibration == "none":
        return biases
    fn, _, _ = _get(calibration)
    if images is None:
        raise ValueError(
            f"Calibration {calibration!r} needs unlabeled calibration images: pass "
            "--calibration-images DIR (workbench loo) or choose a registered image set."
        )
    context = _compute_context(rows, images, class_ids=class_ids, replace=replace)
    if bool(torch.isnan(context.margins).all(dim=0).any()):
        raise ValueError("The calibration set has no image outside the class being calibrated.")
    return fn(context, params).float()


def _compute_context(rows, images: CalibrationImages, *, class_ids, replace):
    """Margins (M, T) with the rows' own images masked out."""
    logits = images.trained_logits.double()  # (M, C_all)
    top = torch.topk(logits, min(2, logits.shape[1]), dim=1)
    replace = replace.to(torch.long)
    own_is_top = top.indices[:, :1] == replace[None, :]  # (M, T)
    competitor = torch.where(own_is_top, top.values[:, -1:], top.values[:, :1])
    scores = images.features.double() @ rows.double().T  # (M, T)
    index = {}
    for i, wnid in enumerate(images.wnids):
        index.setdefault(wnid, []).append(i)
    own = torch.zeros_like(scores, dtype=torch.bool)
    for t, class_id in enumerate(class_ids):
        own[index.get(class_id, []), t] = True
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    margins = torch.where(own, nan, competitor - scores)
    return CalibrationContext(margins, torch.where(own, nan, scores), images)


def _mean_std(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Column mean and (population) standard deviation ignoring NaN: (T,), (T,)."""
    mean = torch.nanmean(values, dim=0)
    return mean, torch.sqrt(torch.nanmean((values - mean) ** 2, dim=0))


@register_calibration("zscore", defaults={"z": 3.5})
def _zscore(context: CalibrationContext, params: dict) -> torch.Tensor:
    mean, std = _mean_std(context.margins)
    return mean - float(params["z"]) * std


@register_calibration("share", defaults={"share": 0.002})
def _share(context: CalibrationContext, params: dict) -> torch.Tensor:
    share = float(params["share"])
    if not 0.0 <= share < 1.0:
        raise ValueError(f"share must be in [0, 1), got {share}")
    return torch.nanquantile(context.margins, share, dim=0)


@register_calibration("zscore-trained", defaults={})
def _zscore_trained(context: CalibrationContext, params: dict) -> torch.Tensor:
    del params
    mean, std = _mean_std(context.margins)
    return mean - compute_trained_z(context.images) * std


def compute_trained_z(images: CalibrationImages) -> float:
    """Median over the trained rows of z = (mean margin - bias) / std margin on the images."""
    logits = images.trained_logits.double()  # (M, C)
    top = torch.topk(logits, 2, dim=1)
    classes = torch.arange(logits.shape[1])
    own_is_top = top.indices[:, :1] == classes[None, :]
    competitor = torch.where(own_is_top, top.values[:, 1:2], top.values[:, :1])
    bias = images.head.bias.double()
    margins = competitor - (logits - bias[None, :])
    mean, std = margins.mean(0), margins.std(0, unbiased=False)
    return float(((mean - bias) / std.clamp_min(1e-12)).median())


register_calibration("none", defaults={}, needs_images=False)(lambda context, params: None)
