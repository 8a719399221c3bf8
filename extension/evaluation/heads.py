"""The rows an evaluation compares: trained rows, and synthesized rows from the synthesis layer.

A thin adapter over `extension.models` (base classifier, head), `extension.synthesis.donors`
(leave-one-out inputs, new-class inputs) and `extension.synthesis.methods` (registered
methods): a
base class is synthesized leave-one-out (from the other classes only); a class added from
text uses its stored synthesized row for the same base weights when one exists, else it is
synthesized from its stored texts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from db import added_classes as added_db
from extension.models import BaseClassifier
from extension.specs import TRAINED, SynthesisSpec
from extension.synthesis.donors import compute_loo_rows, compute_new_rows, load_donors
from extension.synthesis.methods import describe_spec, resolve_method
from extension.synthesis.new_class import load_head_file


@dataclass(frozen=True)
class EvalRows:
    """Rows to evaluate, per method label, for T target classes.

    Attributes:
        targets: (T,) class ids.
        rows: method label -> ((T, D) rows, (T,) biases); NaN rows where a method has none.
        row_source: class id -> 'leave-one-out' | 'added'.
        replaces: class id -> the head row the evaluated row replaces (None for added classes).
    """

    targets: tuple[str, ...]
    rows: dict[str, tuple[torch.Tensor, torch.Tensor]]
    row_source: dict[str, str]
    replaces: dict[str, int | None] = field(default_factory=dict)


def compute_method_label(spec: SynthesisSpec) -> str:
    """The preset name when the spec is a registered preset ('paper-cosine'), else its label."""
    return describe_spec(spec)


def resolve_methods(names: list[str]) -> tuple[SynthesisSpec, ...]:
    """Specs of preset names (`extension.synthesis.list_methods()`).

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    return tuple(resolve_method(n.strip()) for n in names if n.strip())


def compute_eval_rows(
    con,
    base: BaseClassifier,
    targets: list[str],
    methods: tuple[SynthesisSpec, ...],
    *,
    device: str | None = None,
) -> EvalRows:
    """The trained row (base classes) and one synthesized row per method for every target.

    Raises:
        ValueError: a target that is neither a base class nor an added class, or synthesis
            inputs missing (no class texts).
    """
    index = base.row_of()
    unknown = [t for t in targets if t not in index and added_db.get_added_class(con, t) is None]
    if unknown:
        raise ValueError(
            f"Unknown classes {unknown}: not in the base model and not added from text."
        )
    d = base.head.weight.shape[1]
    base_targets = [t for t in targets if t in index]
    rows = {TRAINED: _trained_rows(base, targets)}
    if methods:
        donors = load_donors(con, base.head, list(base.class_wnids))
        for spec in methods:
            label = compute_method_label(spec)
            weight, bias = (
                torch.full((len(targets), d), float("nan")),
                torch.full((len(targets),), float("nan")),
            )
            if base_targets:
                w, b = compute_loo_rows(donors, base_targets, spec, device=device)
                for j, t in enumerate(base_targets):
                    weight[targets.index(t)], bias[targets.index(t)] = w[j], b[j]
            for i, t in enumerate(targets):
                if t not in index:
                    weight[i], bias[i] = _added_row(con, donors, base, t, spec, label, device)
            rows[label] = (weight, bias)
    return EvalRows(
        targets=tuple(targets),
        rows=rows,
        row_source={t: "leave-one-out" if t in index else "added" for t in targets},
        replaces={t: index.get(t) for t in targets},
    )


def _trained_rows(base: BaseClassifier, targets: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    index, d = base.row_of(), base.head.weight.shape[1]
    weight, bias = (
        torch.full((len(targets), d), float("nan")),
        torch.full((len(targets),), float("nan")),
    )
    for i, t in enumerate(targets):
        if t in index:
            weight[i], bias[i] = base.head.weight[index[t]], base.head.bias[index[t]]
    return weight, bias


def _added_row(
    con, donors, base: BaseClassifier, wnid: str, spec: SynthesisSpec, label: str, device
):
    stored = [
        r
        for r in added_db.list_class_heads(con, wnid, method_label=label, model_key=base.model_key)
        if Path(r[0]).exists()
    ]
    if stored:
        head = load_head_file(Path(stored[0][0]), sha256=stored[0][1])
        return head.weight.reshape(-1).float(), head.bias.reshape(-1)[0].float()
    added = added_db.get_added_class(con, wnid)
    texts = [added["description"], *json.loads(added["texts_json"] or "[]")]
    w, b = compute_new_rows(donors, texts, spec, device=device)
    return w[0], b[0]
