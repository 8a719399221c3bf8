"""Nearest classes of a new class's texts, per distance, with what made each one near.

For the token distances (the paper's cosine and Euclidean on frequency vectors) the reason
is the shared tokens that contribute most to the inner product `q.x` (their share of it);
a Euclidean neighbour that shares little is near because both vectors are short, and says
so. For the embedding distance the reason is the neighbour's own text most similar to one
of the new texts (cosine of their sentence vectors). `compute_preview` returns every
distance's k nearest classes and one side-by-side table for the page.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import torch

from extension.synthesis.donors import (
    EMBEDDING,
    Donors,
    compute_donor_distances,
    compute_new_inputs,
)
from extension.synthesis.methods import SynthesisInputs
from extension.text.distances import (
    compute_distances,
    compute_nearest,
    compute_table1,
    get_distance_vectors,
    list_distances,
)

N_REASONS = 3


@dataclass(frozen=True)
class Preview:
    """Neighbours of a not-yet-added class.

    Attributes:
        n_tokens: vocabulary tokens found in its texts.
        table1: closest / furthest / mean per distance.
        nearest: distance name -> k nearest classes: `rank`, `wnid`, `name`, `distance`,
            `evidence` (tokens, or the neighbour's sentence), `evidence_score` (each token's
            share of the inner product, or the sentence's cosine), `reason` (one line).
        side_by_side: one row per rank; per distance its class name, distance and reason.
    """

    n_tokens: int
    table1: pl.DataFrame
    nearest: dict[str, pl.DataFrame]
    side_by_side: pl.DataFrame


def compute_preview(donors: Donors, texts: list[str], *, k: int = 10) -> Preview:
    """Nearest base classes of new texts under every distance the donors support (the
    embedding distance when they carry sentence embeddings); no writes.

    Raises:
        ValueError: the texts have no usable tokens.
    """
    inputs, vector = compute_new_inputs(donors, texts)
    return compute_preview_from_inputs(donors, texts, inputs, vector, k=k)


def compute_preview_from_inputs(
    donors: Donors, texts: list[str], inputs: SynthesisInputs, vector: torch.Tensor, *, k: int
) -> Preview:
    """`compute_preview` once the texts' synthesis inputs and (V,) paper vector exist."""
    distances = [
        d
        for d in list_distances()
        if get_distance_vectors(d) == "tokens" or EMBEDDING in (inputs.variants or {})
    ]
    dists = {d: _distance_row(donors, inputs, d) for d in distances}
    wnids = list(donors.wnids)
    nearest = {}
    for name, dist in dists.items():
        frame = compute_nearest(dist, wnids, donors.names, k=k)
        if get_distance_vectors(name) == "tokens":
            evidence = compute_token_evidence(donors, vector, frame["wnid"].to_list())
        else:
            evidence = compute_sentence_evidence(donors, texts, frame["wnid"].to_list())
        nearest[name] = pl.concat([frame, evidence], how="horizontal")
    return Preview(
        n_tokens=int((vector > 0).sum()),
        table1=compute_table1(dists, wnids, donors.names, exclude=None),
        nearest=nearest,
        side_by_side=compute_side_by_side(nearest),
    )


def _distance_row(donors: Donors, inputs: SynthesisInputs, distance: str) -> torch.Tensor:
    """(C,) distances of the one query under a token or the embedding distance."""
    if get_distance_vectors(distance) == "tokens":
        return compute_donor_distances(donors, inputs, distance=distance)[0]
    emb = inputs.for_features(EMBEDDING)
    base_sq = torch.diagonal(emb.gram)
    return compute_distances(emb.cross, emb.query_sq, base_sq, distance=distance)[0]


def compute_token_evidence(
    donors: Donors, vector: torch.Tensor, wnids: list[str], *, n: int = N_REASONS
) -> pl.DataFrame:
    """Per neighbour, the shared tokens with the largest terms `q_v * x_v` of the paper
    inner product and their share of it.

    Args:
        vector: (V,) the new texts' paper frequency vector.
        wnids: the neighbours, in rank order.
    """
    index = donors.index()
    rows = donors.matrix.index_select(0, torch.tensor([index[w] for w in wnids])).to_dense()
    terms = rows * vector[None, :]  # (k, V)
    total = terms.sum(1)
    evidence, scores, reasons = [], [], []
    for i in range(len(wnids)):
        vals, idx = torch.topk(terms[i], min(n, terms.shape[1]))
        keep = [
            (donors.stats.vocab[j], float(v / total[i]))
            for v, j in zip(vals.tolist(), idx.tolist(), strict=True)
            if v > 0
        ]
        evidence.append([t for t, _ in keep])
        scores.append([round(s, 4) for _, s in keep])
        if keep:
            reasons.append("shared tokens: " + ", ".join(f"{t} ({s:.0%})" for t, s in keep))
        else:
            reasons.append("no shared token: near only because both texts have few tokens")
    return _evidence_frame(evidence, scores, reasons)


def compute_sentence_evidence(donors: Donors, texts: list[str], wnids: list[str]) -> pl.DataFrame:
    """Per neighbour, its text whose sentence vector is closest to one of the new texts."""
    texts = [t for t in texts if t and t.strip()]
    queries = donors.text_encoder.embed(texts, cache=False)  # (Q, E)
    emb = donors.embeddings
    index = donors.index()
    evidence, scores, reasons = [], [], []
    for wnid in wnids:
        own = torch.nonzero(emb.owner == index[wnid]).squeeze(1)
        sims = queries @ emb.text_vectors[own].T  # (Q, n_texts)
        best = int(sims.max(0).values.argmax())
        sentence, score = emb.texts[int(own[best])], float(sims[:, best].max())
        evidence.append([sentence])
        scores.append([round(score, 4)])
        reasons.append(f"closest sentence ({score:.2f}): {sentence}")
    return _evidence_frame(evidence, scores, reasons)


def compute_side_by_side(nearest: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """One row per rank: `<distance>` (class name), `<distance> distance`, `<distance> why`."""
    columns = {}
    n = min(frame.height for frame in nearest.values())
    columns["rank"] = list(range(1, n + 1))
    for name, frame in nearest.items():
        columns[name] = frame["name"].head(n).to_list()
        columns[f"{name} distance"] = frame["distance"].head(n).to_list()
        columns[f"{name} why"] = frame["reason"].head(n).to_list()
    return pl.DataFrame(columns)


def _evidence_frame(
    evidence: list[list[str]], scores: list[list[float]], reasons: list[str]
) -> pl.DataFrame:
    """One row per neighbour: evidence (what the texts share), evidence_score, reason."""
    return pl.DataFrame(
        {"evidence": evidence, "evidence_score": scores, "reason": reasons},
        schema={
            "evidence": pl.List(pl.Utf8),
            "evidence_score": pl.List(pl.Float64),
            "reason": pl.Utf8,
        },
    )
