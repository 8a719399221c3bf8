"""The base classes as donors: text vectors aligned with the trained head rows.

Donors are the base classifier's classes that have text (row order = class index order);
classes without any text cannot be compared and are left out. Besides the token-frequency
features ('paper', 'sqrt-idf'), donors may carry sentence embeddings of their texts
('embedding' features, `extension.text.embedding`) when a text encoder is given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import torch

from db import classes as class_db
from encoders.text_encoder import TextEncoder
from extension.models import Head
from extension.synthesis.calibration import CalibrationImages, compute_calibrated
from extension.synthesis.methods import SynthesisInputs, complete_spec, compute_rows
from extension.text.distances import (
    compute_base_distances,
    compute_cross,
    compute_distances,
    compute_gram,
)
from extension.text.embedding import (
    ClassEmbeddings,
    compute_pooled_vector,
    load_class_embeddings,
)
from extension.text.stats import TextStats, compute_text_vector
from extension.text.store import load_text_stats

FEATURES = ("paper", "sqrt-idf")
EMBEDDING = "embedding"


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
        head_gram: (C, C) inner products of the donors' trained rows.
        embeddings: sentence vectors of the donors' texts (row order = `wnids`), or None.
        text_encoder: the encoder that made them (embeds new texts), or None.
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
    head_gram: torch.Tensor | None = None
    embeddings: ClassEmbeddings | None = None
    text_encoder: TextEncoder | None = None

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.wnids)}


def load_donors_for_methods(
    con: duckdb.DuckDBPyConnection,
    base,
    methods: list,
    *,
    text_encoder: str,
    cache_dir: Path,
    device: str,
) -> Donors:
    """`load_donors` for a base classifier (`extension.models.BaseClassifier`), with the
    sentence encoder `text_encoder` attached only when one of `methods` (SynthesisSpec) uses
    embedding features (it embeds the class texts its cache lacks)."""
    encoder = None
    if any("embedding" in m.features.split("+") for m in methods):
        from encoders.text_encoder import load_text_encoder

        encoder = load_text_encoder(text_encoder, cache_dir=cache_dir, device=device)
    return load_donors(con, base.head, list(base.class_wnids), text_encoder=encoder)


def load_donors(
    con: duckdb.DuckDBPyConnection,
    head: Head,
    class_wnids: list[str],
    *,
    text_encoder: TextEncoder | None = None,
    embed_missing: bool = True,
) -> Donors:
    """Align the stored text statistics with a head whose rows are `class_wnids`.

    Args:
        text_encoder: also attach sentence embeddings of the donors' texts ('embedding'
            features); None: token features only.
        embed_missing: embed class texts the encoder's cache lacks (inside a job); False:
            attach no embeddings unless every text is cached (`embeddings` stays None).

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
    wnids = tuple(w for _, w in keep)
    embeddings = None
    if text_encoder is not None:
        embeddings = load_class_embeddings(con, text_encoder, embed_missing=embed_missing)
    if embeddings is not None:
        embeddings = _select_embeddings(embeddings, wnids)
        matrices[EMBEDDING] = embeddings.vectors.double()
    grams = {name: compute_gram(m) for name, m in matrices.items()}
    weight = head.weight[indices].double()
    return Donors(
        wnids=tuple(w for _, w in keep),
        class_indices=indices,
        matrix=matrix,
        gram=grams["paper"],
        head=Head(weight, head.bias[indices].double()),
        idf=idf,
        matrices=matrices,
        grams=grams,
        stats=stats,
        build=build,
        names=names,
        head_gram=weight @ weight.T,
        embeddings=embeddings,
        text_encoder=text_encoder if embeddings is not None else None,
    )


def _select_embeddings(embeddings: ClassEmbeddings, wnids: tuple[str, ...]) -> ClassEmbeddings:
    missing = sorted(set(wnids) - set(embeddings.wnids))
    if missing:
        raise ValueError(
            f"{len(missing)} donor classes have no embedded text (e.g. {missing[:3]}): the "
            "text statistics are older than the class texts; rebuild them (workbench text-stats)."
        )
    return embeddings.select(wnids)


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
    _check_features(donors, features)
    rows = torch.tensor([index[w] for w in targets])
    variants = {
        name: _make_inputs(
            donors, name, cross=gram[rows], query_sq=torch.diagonal(gram)[rows], exclude=rows
        )
        for name, gram in donors.grams.items()
    }
    return _with_variants(variants, features), targets


def compute_new_inputs(
    donors: Donors, texts: list[str], *, features: str = "paper"
) -> tuple[SynthesisInputs, torch.Tensor]:
    """Inputs for one new class from its texts (every feature variant, `features` primary);
    also returns its (V,) paper vector.

    Raises:
        ValueError: the texts have no usable token, or unknown features.
    """
    _check_features(donors, features)
    vector = compute_text_vector(donors.stats, texts)
    variants = {}
    if donors.embeddings is not None:
        query = compute_query_embedding(donors, texts)[None, :]  # (1, E)
        cross = query @ donors.matrices[EMBEDDING].T
        variants[EMBEDDING] = _make_new_class_inputs(donors, EMBEDDING, query, cross)
    for name in FEATURES:
        query = compute_features(vector[None, :], name, donors.idf)
        cross = compute_cross(donors.matrices[name], query)
        variants[name] = _make_new_class_inputs(donors, name, query, cross)
    return _with_variants(variants, features), vector


def _make_new_class_inputs(
    donors: Donors, features: str, query: torch.Tensor, cross: torch.Tensor
) -> SynthesisInputs:
    """Inputs of one new class: its (1, V) query vector under `features` and their (1, C)
    inner products with the donors' (every donor may be used)."""
    query_sq, no_donor = (query * query).sum(1), torch.tensor([-1])
    return _make_inputs(donors, features, cross=cross, query_sq=query_sq, exclude=no_donor)


def _make_inputs(
    donors: Donors,
    features: str,
    *,
    cross: torch.Tensor,
    query_sq: torch.Tensor,
    exclude: torch.Tensor,
) -> SynthesisInputs:
    """The donors' side of the inputs (gram under `features`, head rows and biases) with the
    queries' (T, C) `cross` products, (T,) squared norms and (T,) excluded donors (-1: none)."""
    return SynthesisInputs(
        cross=cross,
        query_sq=query_sq,
        gram=donors.grams[features],
        weight=donors.head.weight,
        bias=donors.head.bias,
        exclude=exclude,
        features=features,
        weight_gram=donors.head_gram,
    )


def _with_variants(variants: dict[str, SynthesisInputs], features: str) -> SynthesisInputs:
    """The inputs of `features`' primary set ('a+b': 'a'), carrying every variant."""
    return replace(variants[features.split("+")[0]], variants=variants)


def compute_query_embedding(donors: Donors, texts: list[str]) -> torch.Tensor:
    """(E,) unit vector of new texts, pooled like a class (the first text is the
    description); never written to the cache."""
    texts = [t for t in texts if t and t.strip()]
    vectors = donors.text_encoder.embed(texts, cache=False).double()
    is_description = torch.zeros(len(texts), dtype=torch.bool)
    is_description[0] = True
    return compute_pooled_vector(vectors, is_description)


def _check_features(donors: Donors, features: str) -> None:
    for name in features.split("+"):
        if name == EMBEDDING and EMBEDDING not in donors.grams:
            raise ValueError(
                "These donors have no sentence embeddings: load them with a text encoder "
                "(load_donors(..., text_encoder=load_text_encoder())) after embedding the class "
                "texts (workbench text-embeddings, or the 'text-embeddings' job)."
            )
        if name not in donors.grams:
            raise ValueError(f"Unknown features {name!r}; valid: {(*FEATURES, EMBEDDING)}")


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
    donors: Donors,
    targets: list[str] | None,
    spec,
    *,
    calibration: CalibrationImages | None = None,
    device: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Leave-one-out rows (T, D) and biases (T,) of donor classes under one spec (targets
    None: every donor), calibrated when the spec says so (each target's own images in the
    calibration set excluded, its own trained row not a competitor)."""
    spec = complete_spec(spec)
    inputs, targets = compute_loo_inputs(donors, targets, features=spec.features)
    rows, biases = compute_rows(inputs, spec, device=device)
    replace_rows = donors.class_indices[inputs.exclude]
    biases = _compute_calibrated(donors, spec, rows, biases, calibration, targets, replace_rows)
    return rows, biases


def compute_new_rows(
    donors: Donors,
    texts: list[str],
    spec,
    *,
    class_id: str = "",
    calibration: CalibrationImages | None = None,
    inputs: SynthesisInputs | None = None,
    device: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The row (1, D) and bias (1,) of a new class from its texts under one spec, calibrated
    against every trained row when the spec says so (images filed under `class_id` in the
    calibration set excluded). `inputs`: from `compute_new_inputs` of the same texts."""
    spec = complete_spec(spec)
    if inputs is None:
        inputs, _ = compute_new_inputs(donors, texts, features=spec.features)
    rows, biases = compute_rows(inputs, spec, device=device)
    biases = _compute_calibrated(
        donors, spec, rows, biases, calibration, [class_id], torch.tensor([-1])
    )
    return rows, biases


def _compute_calibrated(donors, spec, rows, biases, calibration, class_ids, replace_rows):
    """Biases (T,) under the spec's calibration (a fitted rule synthesizes the calibration
    set's own classes with the same method to choose its parameter)."""
    done = {c: i for i, c in enumerate(class_ids)} if bool((replace_rows >= 0).all()) else {}

    def synthesize(classes: list[str]):
        if all(c in done for c in classes):  # leave-one-out rows already made (uncalibrated)
            index = torch.tensor([done[c] for c in classes])
            return rows[index], biases[index], replace_rows[index]
        inputs, _ = compute_loo_inputs(donors, classes, features=spec.features)
        plain = replace(spec, calibration="none", calibration_params=())
        return (*compute_rows(inputs, plain), donors.class_indices[inputs.exclude])

    return compute_calibrated(
        rows,
        biases,
        spec.calibration,
        spec.calibration_dict(),
        calibration,
        class_ids=class_ids,
        replace=replace_rows,
        synthesize=synthesize,
        base_classes=set(donors.wnids),
    )
