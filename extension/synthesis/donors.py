"""The base classes as donors: text vectors aligned with the trained head rows.

Donors are the base classifier's classes that have text (row order = class index order);
classes without any text cannot be compared and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import duckdb
import torch

from db import classes as class_db
from extension.models import Head
from extension.synthesis.methods import SynthesisInputs, compute_rows
from extension.text.distances import (
    compute_base_distances,
    compute_cross,
    compute_distances,
    compute_gram,
)
from extension.text.stats import TextStats, compute_text_vector
from extension.text.store import load_text_stats

FEATURES = ("paper", "sqrt-idf")


@dataclass(frozen=True)
class Donors:
    """Base classes usable for synthesis.

    Attributes:
        wnids: (C,) donor wnids, in class-index order.
        class_indices: (C,) their rows in the full head.
        matrix: (C, V) sparse text vectors (float64).
        gram: (C, C) text inner products.
        head: the donors' trained rows (C, D) and biases (C,).
        idf: (V,) log(C / donors containing the token), for the 'sqrt-idf' features.
        matrices: features name -> (C, V) sparse text vectors under those features.
        grams: features name -> (C, C) inner products under those features.
        stats: the text statistics (vocabulary for new texts).
        build: the stored build row (id, fingerprint).
        names: wnid -> display name for every catalog class.
    """

    wnids: tuple[str, ...]
    class_indices: torch.Tensor
    matrix: torch.Tensor
    gram: torch.Tensor
    head: Head
    idf: torch.Tensor
    matrices: dict[str, torch.Tensor]
    grams: dict[str, torch.Tensor]
    stats: TextStats
    build: dict
    names: dict[str, str]

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.wnids)}


def load_donors(con: duckdb.DuckDBPyConnection, head: Head, class_wnids: list[str]) -> Donors:
    """Align the stored text statistics with a head whose rows are `class_wnids`.

    Raises:
        ValueError: no base class has text, or the head and class list disagree.
    """
    if head.weight.shape[0] != len(class_wnids):
        raise ValueError(
            f"The head has {head.weight.shape[0]} rows but {len(class_wnids)} classes were given."
        )
    stats, build = load_text_stats(con)
    stat_row = stats.row_index()
    keep = [(i, w) for i, w in enumerate(class_wnids) if w in stat_row]
    if len(keep) < 2:
        raise ValueError(
            "Fewer than 2 base classes have text: ingest captions or set descriptions first."
        )
    full = stats.to_sparse()
    select = torch.tensor([stat_row[w] for _, w in keep])
    matrix = full.index_select(0, select).coalesce()
    indices = torch.tensor([i for i, _ in keep])
    names = {r["wnid"]: r["name"] for r in class_db.list_classes(con).iter_rows(named=True)}
    counts = torch.bincount(matrix.indices()[1], minlength=matrix.shape[1]).double()
    idf = torch.log(len(keep) / counts.clamp_min(1))
    matrices = {name: compute_features(matrix, name, idf) for name in FEATURES}
    grams = {name: compute_gram(m) for name, m in matrices.items()}
    return Donors(
        wnids=tuple(w for _, w in keep),
        class_indices=indices,
        matrix=matrix,
        gram=grams["paper"],
        head=Head(head.weight[indices].double(), head.bias[indices].double()),
        idf=idf,
        matrices=matrices,
        grams=grams,
        stats=stats,
        build=build,
        names=names,
    )


def compute_features(matrix: torch.Tensor, features: str, idf: torch.Tensor) -> torch.Tensor:
    """Text vectors under a feature choice: rows of a sparse (C, V) or a dense (T, V) matrix.

    Raises:
        ValueError: unknown features name.
    """
    if features not in FEATURES:
        raise ValueError(f"Unknown features {features!r}; valid: {FEATURES}")
    if features == "paper":
        return matrix
    if matrix.layout == torch.strided:
        return torch.sqrt(matrix) * idf[None, :]
    coo = matrix.coalesce()
    values = torch.sqrt(coo.values()) * idf[coo.indices()[1]]
    return torch.sparse_coo_tensor(
        coo.indices(), values, coo.shape, check_invariants=False
    ).coalesce()


def compute_loo_inputs(
    donors: Donors, targets: list[str] | None = None, *, features: str = "paper"
) -> tuple[SynthesisInputs, list[str]]:
    """Inputs that synthesize each target donor from the other donors only.

    The inputs carry every feature variant, so `compute_rows` serves any spec with them;
    `features` picks the primary one (what distances shown to users use).

    Raises:
        ValueError: a target that is not a donor (unknown or without text), unknown features.
    """
    index = donors.index()
    targets = list(donors.wnids) if not targets else targets
    unknown = [w for w in targets if w not in index]
    if unknown:
        raise ValueError(f"Classes without text or not in the base model: {unknown[:10]}")
    if features not in donors.grams:
        raise ValueError(f"Unknown features {features!r}; valid: {FEATURES}")
    rows = torch.tensor([index[w] for w in targets])
    variants = {
        name: SynthesisInputs(
            cross=gram[rows],
            query_sq=torch.diagonal(gram)[rows],
            gram=gram,
            weight=donors.head.weight,
            bias=donors.head.bias,
            exclude=rows,
            features=name,
        )
        for name, gram in donors.grams.items()
    }
    return replace(variants[features], variants=variants), targets


def compute_new_inputs(
    donors: Donors, texts: list[str], *, features: str = "paper"
) -> tuple[SynthesisInputs, torch.Tensor]:
    """Inputs for one new class from its texts (every feature variant, `features` primary);
    also returns its (V,) paper vector.

    Raises:
        ValueError: the texts have no usable token, or unknown features.
    """
    if features not in donors.grams:
        raise ValueError(f"Unknown features {features!r}; valid: {FEATURES}")
    vector = compute_text_vector(donors.stats, texts)
    variants = {}
    for name in FEATURES:
        query = compute_features(vector[None, :], name, donors.idf)
        variants[name] = SynthesisInputs(
            cross=compute_cross(donors.matrices[name], query),
            query_sq=(query * query).sum(1),
            gram=donors.grams[name],
            weight=donors.head.weight,
            bias=donors.head.bias,
            exclude=torch.tensor([-1]),
            features=name,
        )
    return replace(variants[features], variants=variants), vector


def compute_donor_distances(
    donors: Donors, inputs: SynthesisInputs, *, distance: str
) -> torch.Tensor:
    """(T, C) distances from each query to every donor (excluded donors included)."""
    return compute_distances(
        inputs.cross, inputs.query_sq, torch.diagonal(donors.gram), distance=distance
    )


def compute_class_distances(donors: Donors, wnid: str, *, distance: str) -> torch.Tensor:
    """(C,) distances from one donor class to every donor."""
    return compute_base_distances(donors.gram, distance=distance)[donors.index()[wnid]]


def compute_loo_rows(
    donors: Donors, targets: list[str], spec, *, device: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Leave-one-out rows (T, D) and biases (T,) of donor classes under one spec."""
    inputs, _ = compute_loo_inputs(donors, targets, features=spec.features)
    return compute_rows(inputs, spec, device=device)


def compute_new_rows(
    donors: Donors, texts: list[str], spec, *, device: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The row (1, D) and bias (1,) of a new class from its texts under one spec."""
    inputs, _ = compute_new_inputs(donors, texts, features=spec.features)
    return compute_rows(inputs, spec, device=device)
