"""Calibrate a synthesized row against the trained rows, without any label of the new class.

A synthesized row (weight w, bias b) competes in the argmax with the trained rows. On an
image with features f it wins when `w.f + b > max_c (trained logit c)`, i.e. when the bias is
above the image's *margin* `m(f) = max_c logit_c(f) - w.f` (for leave-one-out the class's
own trained row is not a competitor: it is the row being replaced). A calibration sets the
bias from the margins on a set of unlabeled *calibration* images or from statistics of the
trained rows, so the row claims a plausible share of images instead of none (too small a
bias) or its neighbours' (too large). (Rescaling each row to the trained rows' logit spread
before setting the bias was measured too and changed 1000-way F1 by less than 0.01, so no
rule rescales.)

Rules (a registry like the synthesis methods; `SynthesisSpec.calibration` names one):
- `none`: the bias as synthesized.
- `zscore`: b = mean(m) - z * std(m) over the calibration images: the row wins where its
  margin is z standard deviations below the mean (calibrated stacking, per row).
- `share`: b = the `share` quantile of m: the row wins that share of calibration images
  ('auto': 1 / the number of classes in the calibration set, one class's share).
- `zscore-trained`: like `zscore` with z = the median z that the trained rows' own biases
  have on the same images (no parameter: statistics of the trained rows).
- `builtin-zscore-fit`: `zscore-fit` on the built-in set (class prototypes from the trained
  rows and photos shipped in packages, `extension.synthesis.builtin`): no user image needed.
- `zscore-fit`: like `zscore` with z chosen on the calibration set's own base classes: their
  rows are synthesized leave-one-out with the same method, calibrated for each z of a grid,
  and the z with the best 1000-way F1 on the calibration photos is used (the set's folder
  labels are labels of base classes, never of the new class). It adapts z to the photos
  (full-size photos want z near 3, 32-pixel ones near 2.25). The fit runs where the method
  can synthesize rows: `extension.synthesis.donors.compute_loo_rows` / `compute_new_rows`.

Label-free contract: the calibration images are never the scored images, and the images of
the class being synthesized (folder named by its wnid or class id), if any, are excluded
from its own calibration (and from the fit of `zscore-fit`: a left-out class that is one of
the set's classes gets z fitted on the other half of the set's classes), so changing them
cannot change its row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from contract.registry import Registry
from extension.evaluation.metrics import compute_win_f1
from extension.models import Head

CalibrationFn = Callable[["CalibrationContext", dict], torch.Tensor]
Synthesize = Callable[[list[str]], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
_CALIBRATIONS: Registry[tuple[CalibrationFn, dict, bool]] = Registry("calibration")
_FITTED: dict[str, tuple[str, str]] = {}  # name -> (rule, the parameter it fits)
_BUILTIN: set[str] = set()  # rules calibrated on the built-in prototypes, never a user's set


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
        mean, std: (T,) mean and (population) standard deviation of each row's margins.
        competitor: (M, T) the best competing trained logit on each image (own row left out).
        scores: (M, T) each row's `w.f` (no bias) on each image.
        images: the calibration images (with the full trained head).
    """

    margins: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    competitor: torch.Tensor
    scores: torch.Tensor
    images: CalibrationImages


def register_calibration(
    name: str, *, defaults: dict, needs_images: bool = True
) -> Callable[[CalibrationFn], CalibrationFn]:
    """Decorator: `fn(context, params) -> biases (T,)`."""

    def decorate(fn: CalibrationFn) -> CalibrationFn:
        _CALIBRATIONS.add(name, (fn, dict(defaults), needs_images))
        return fn

    return decorate


def register_fitted_calibration(
    name: str, *, rule: str, parameter: str, defaults: dict, builtin: bool = False
) -> None:
    """A calibration that fits `parameter` of `rule` on the calibration set's own classes,
    over the grid `<parameter>_min` .. `<parameter>_max` by `<parameter>_step` (defaults).
    `builtin`: its set is the built-in one (`extension.synthesis.builtin`), not a user's."""

    def direct(context: CalibrationContext, params: dict) -> torch.Tensor:
        raise ValueError(f"{name!r} is fitted on the calibration set: use compute_calibrated")

    register_calibration(name, defaults=defaults)(direct)
    _FITTED[name] = (rule, parameter)
    if builtin:
        _BUILTIN.add(name)


def compute_fit_grid(name: str, params: dict) -> list[float]:
    """The values a fitted calibration tries, from its `<p>_min`, `<p>_max`, `<p>_step`."""
    _, parameter = _FITTED[name]
    low, high = float(params[f"{parameter}_min"]), float(params[f"{parameter}_max"])
    step = float(params[f"{parameter}_step"])
    if step <= 0 or high < low:
        raise ValueError(f"{name}: need {parameter}_min <= {parameter}_max and a step > 0")
    return [round(low + i * step, 6) for i in range(int(round((high - low) / step)) + 1)]


def compute_fit_folds(
    class_ids: list[str], images: CalibrationImages, base_classes: set[str]
) -> list[tuple[list[int], set[str]]]:
    """Groups of rows that share one fit, and the classes each fit must leave out.

    Rows of classes that are not among the set's base classes share one fit on all of them
    (their own photos, e.g. filed under a new class's id, left out); rows of the set's own
    base classes get a fit on the other half of those classes (alternate wnids), so no row's
    own photos ever choose its parameter.

    Args:
        base_classes: the classes whose rows the fit can synthesize (the donors).

    Returns:
        [(row indices, classes excluded from the fit)], only non-empty groups.
    """
    present = sorted(set(images.wnids) & base_classes)
    folds = [set(present[0::2]), set(present[1::2])]
    outside = [t for t, c in enumerate(class_ids) if c not in folds[0] | folds[1]]
    groups = [(outside, {class_ids[t] for t in outside})]
    groups += [([t for t, c in enumerate(class_ids) if c in fold], fold) for fold in folds]
    return [(rows, excluded) for rows, excluded in groups if rows]


def select_images(images: CalibrationImages, excluded: set[str]) -> CalibrationImages:
    """The calibration images without those of the excluded classes."""
    keep = torch.tensor([w not in excluded for w in images.wnids], dtype=torch.bool)
    return CalibrationImages(
        images.features[keep],
        images.trained_logits[keep],
        tuple(w for w in images.wnids if w not in excluded),
        images.source,
        images.head,
    )


def list_calibrations() -> list[str]:
    """Registered calibration names."""
    return _CALIBRATIONS.names()


def needs_calibration_images(name: str) -> bool:
    """True when the calibration reads a user's unlabeled images (a set is required)."""
    return name != "none" and _get(name)[2] and name not in _BUILTIN


def uses_builtin_images(name: str) -> bool:
    """True when the calibration runs on the built-in prototypes (no user image needed)."""
    _get(name)
    return name in _BUILTIN


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
    return _CALIBRATIONS.get(name)


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
    _check_images(calibration, images)
    context = _compute_context(rows, images, class_ids=class_ids, replace=replace)
    if bool(torch.isnan(context.margins).all(dim=0).any()):
        raise ValueError("The calibration set has no image outside the class being calibrated.")
    return fn(context, params).float()


def compute_calibrated(
    rows: torch.Tensor,
    biases: torch.Tensor,
    calibration: str,
    params: dict,
    images: CalibrationImages | None,
    *,
    class_ids: list[str],
    replace: torch.Tensor,
    synthesize: Synthesize,
    base_classes: set[str],
) -> torch.Tensor:
    """`compute_calibrated_biases`, fitting a fitted rule's parameter first (per fold).

    Args:
        synthesize: classes -> their leave-one-out rows (K, D), biases (K,) and head rows
            (K,) under the method being calibrated (uncalibrated).
        base_classes: the classes `synthesize` can make rows for.
    """
    fitted = _FITTED.get(calibration)
    if fitted is None:
        return compute_calibrated_biases(
            rows, biases, calibration, params, images, class_ids=class_ids, replace=replace
        )
    rule, parameter = fitted
    _check_images(calibration, images)
    present = sorted(set(images.wnids) & base_classes)
    made = {}
    if present:
        made = dict(zip(present, zip(*synthesize(present), strict=True), strict=True))

    def synthesize_once(classes: list[str]):  # a class's leave-one-out row never changes
        return tuple(torch.stack([made[c][k] for c in classes]) for k in range(3))

    out = biases.clone()
    for group, excluded in compute_fit_folds(class_ids, images, base_classes):
        value = compute_fitted_value(
            calibration, params, select_images(images, excluded), synthesize_once, base_classes
        )
        index = torch.tensor(group)
        out[index] = compute_calibrated_biases(
            rows[index],
            biases[index],
            rule,
            {parameter: value},
            images,
            class_ids=[class_ids[i] for i in group],
            replace=replace[index],
        )
    return out


def compute_fitted_value(
    calibration: str,
    params: dict,
    images: CalibrationImages,
    synthesize: Synthesize,
    base_classes: set[str],
) -> float:
    """The parameter a fitted calibration chooses on the set's own base classes: their
    leave-one-out rows calibrated with each grid value on the set's other photos, scored by
    1000-way F1 on the set's photos (the first best value of the grid).

    Raises:
        ValueError: fewer than 2 of the set's classes are base classes.
    """
    rule, parameter = _FITTED[calibration]
    classes = sorted(set(images.wnids) & base_classes)
    if len(classes) < 2:
        raise ValueError(
            f"{calibration!r} chooses {parameter} on the calibration set's own classes: it "
            "needs photos of at least 2 base classes (folders named by wnid) besides the "
            "classes being synthesized."
        )
    rows, _, heads = synthesize(classes)
    row_of = {w: int(h) for w, h in zip(classes, heads.tolist(), strict=True)}
    labels = torch.tensor([row_of.get(w, -1) for w in images.wnids])
    positives = (labels[:, None] == heads[None, :]).numpy()
    context = _compute_context(rows, images, class_ids=classes, replace=heads)  # once for all
    fn = _get(rule)[0]
    best, best_f1 = None, -1.0
    for value in compute_fit_grid(calibration, params):
        # the 1000-way test on the set: a row wins where its logit tops every other trained row
        win = context.scores + fn(context, {parameter: value})[None, :] >= context.competitor
        f1 = float(compute_win_f1(win.numpy(), positives).mean())
        if f1 > best_f1:
            best, best_f1 = value, f1
    return best


def _check_images(calibration: str, images: CalibrationImages | None) -> None:
    if images is None and calibration in _BUILTIN:
        raise ValueError(
            f"Calibration {calibration!r} runs on the built-in class prototypes: pass "
            "extension.synthesis.builtin.load_builtin_calibration(base) as the calibration."
        )
    if images is None:
        raise ValueError(
            f"Calibration {calibration!r} needs unlabeled calibration images: pass "
            "--calibration-images DIR (workbench loo) or choose a registered image set."
        )


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
    mean = torch.nanmean(margins, dim=0)
    std = torch.sqrt(torch.nanmean((margins - mean) ** 2, dim=0))
    return CalibrationContext(margins, mean, std, competitor, scores, images)


@register_calibration("zscore", defaults={"z": 3.25})
def _zscore(context: CalibrationContext, params: dict) -> torch.Tensor:
    return context.mean - float(params["z"]) * context.std


@register_calibration("share", defaults={"share": "auto"})
def _share(context: CalibrationContext, params: dict) -> torch.Tensor:
    share = params["share"]
    if share == "auto":  # one class's share among the calibration set's classes
        share = 1.0 / max(len(set(context.images.wnids)), 1)
    share = float(share)
    if not 0.0 <= share < 1.0:
        raise ValueError(f"share must be 'auto' or in [0, 1), got {share}")
    return torch.nanquantile(context.margins, share, dim=0)


@register_calibration("zscore-trained", defaults={})
def _zscore_trained(context: CalibrationContext, params: dict) -> torch.Tensor:
    del params
    return context.mean - compute_trained_z(context.images) * context.std


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


register_fitted_calibration(
    "zscore-fit",
    rule="zscore",
    parameter="z",
    defaults={"z_min": 2.0, "z_max": 4.0, "z_step": 0.25},
)
# The same fit on the class prototypes built from the trained rows and the photos shipped in
# packages (`extension.synthesis.builtin`): what a new user has without any image set.
register_fitted_calibration(
    "builtin-zscore-fit",
    rule="zscore",
    parameter="z",
    defaults={"z_min": 2.0, "z_max": 4.0, "z_step": 0.25},
    builtin=True,
)
register_calibration("none", defaults={}, needs_images=False)(lambda context, params: None)
