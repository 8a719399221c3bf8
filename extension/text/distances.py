"""Cosine and Euclidean distances between class text vectors, and the paper's Table-1 view.

Everything derives from inner products, so the (C, V) sparse matrix is never densified:
`cosine(a, b) = 1 - a.b / (|a| |b|)`, `euclidean(a, b) = sqrt(|a|^2 + |b|^2 - 2 a.b)`.
Each distance names the vectors its inner products come from: 'tokens' (the paper's
frequency vectors: cosine, euclidean) or 'embedding' (sentence vectors of the class texts,
`extension.text.embedding`: the 'embedding' distance, a cosine on those).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import polars as pl
import torch

from contract.registry import Registry
from contract.specs import check_choice

DistanceFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
_DISTANCES: Registry[tuple[DistanceFn, str]] = Registry("distance")  # (fn, vector kind)
VECTOR_KINDS = ("tokens", "embedding")


def register_distance(name: str, *, vectors: str = "tokens") -> Callable[[DistanceFn], DistanceFn]:
    """Decorator: `fn(cross (T, C), query_sq (T,), base_sq (C,)) -> (T, C)` distances, on
    inner products of `vectors` ('tokens' or 'embedding')."""
    check_choice("vectors", vectors, VECTOR_KINDS)

    def decorate(fn: DistanceFn) -> DistanceFn:
        _DISTANCES.add(name, (fn, vectors))
        return fn

    return decorate


def list_distances(vectors: str | None = None) -> list[str]:
    """Registered distance names (of one vector kind when given)."""
    return sorted(n for n, (_, kind) in _DISTANCES.items() if vectors in (None, kind))


def get_distance_vectors(name: str) -> str:
    """'tokens' or 'embedding': the vectors a distance is computed on."""
    return _DISTANCES.get(name)[1]


@register_distance("cosine")
def _cosine(cross: torch.Tensor, query_sq: torch.Tensor, base_sq: torch.Tensor) -> torch.Tensor:
    norms = torch.sqrt(query_sq)[:, None] * torch.sqrt(base_sq)[None, :]
    return 1.0 - cross / norms.clamp_min(1e-300)


@register_distance("euclidean")
def _euclidean(cross: torch.Tensor, query_sq: torch.Tensor, base_sq: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((query_sq[:, None] + base_sq[None, :] - 2.0 * cross).clamp_min(0.0))


register_distance("embedding", vectors="embedding")(_cosine)


def compute_gram(matrix: torch.Tensor) -> torch.Tensor:
    """(C, C) dense inner products of the rows of a sparse or dense (C, V) matrix."""
    if matrix.layout == torch.strided:
        return matrix @ matrix.T
    coo = matrix.to_sparse_coo()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse.mm(coo, coo.t()).to_dense()


def compute_cross(matrix: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """(T, C) inner products of dense queries (T, V) with the rows of a (C, V) matrix."""
    if matrix.layout == torch.strided:
        return queries @ matrix.T
    return torch.sparse.mm(matrix.to_sparse_coo(), queries.T.to(matrix.dtype)).T


def compute_distances(
    cross: torch.Tensor, query_sq: torch.Tensor, base_sq: torch.Tensor, *, distance: str
) -> torch.Tensor:
    """(T, C) distances from inner products.

    Args:
        cross: (T, C) query-base inner products.
        query_sq: (T,) squared norms of the queries.
        base_sq: (C,) squared norms of the base rows.
        distance: a registered distance name.
    """
    fn, _ = _DISTANCES.get(distance)
    if cross.shape != (query_sq.shape[0], base_sq.shape[0]):
        raise ValueError(
            f"cross {tuple(cross.shape)} does not match ({query_sq.shape[0]}, {base_sq.shape[0]})"
        )
    return fn(cross, query_sq, base_sq)


def compute_base_distances(gram: torch.Tensor, *, distance: str) -> torch.Tensor:
    """(C, C) distances between all base classes from their Gram matrix."""
    sq = torch.diagonal(gram)
    return compute_distances(gram, sq, sq, distance=distance)


def compute_table1(
    distances: dict[str, torch.Tensor],
    wnids: list[str],
    names: dict[str, str],
    *,
    exclude: int | None,
) -> pl.DataFrame:
    """The paper's Table 1 for one class: closest and furthest class and mean, per distance.

    Args:
        distances: distance name -> (C,) distances from the class to every base class.
        wnids: (C,) base class order.
        names: wnid -> display name.
        exclude: index of the class itself among the base classes (None for a new class).
    """
    rows = []
    for name, dist in distances.items():
        keep = torch.ones_like(dist, dtype=torch.bool)
        if exclude is not None:
            keep[exclude] = False
        idx = torch.nonzero(keep).squeeze(1)
        vals = dist[idx]
        lo, hi = idx[vals.argmin()].item(), idx[vals.argmax()].item()
        rows.append(
            {
                "distance": name,
                "closest": f"{names.get(wnids[lo], wnids[lo])} ({wnids[lo]})",
                "closest_distance": float(dist[lo]),
                "furthest": f"{names.get(wnids[hi], wnids[hi])} ({wnids[hi]})",
                "furthest_distance": float(dist[hi]),
                "mean_distance": float(vals.mean()),
            }
        )
    return pl.DataFrame(rows)


def compute_nearest(
    dist: torch.Tensor,
    wnids: list[str],
    names: dict[str, str],
    *,
    k: int = 10,
    exclude: int | None = None,
) -> pl.DataFrame:
    """The k nearest base classes of one class: `rank`, `wnid`, `name`, `distance`."""
    dist = dist.clone().double()
    if exclude is not None:
        dist[exclude] = float("inf")
    k = min(k, int(torch.isfinite(dist).sum()))
    vals, idx = torch.topk(dist, k, largest=False)
    return pl.DataFrame(
        {
            "rank": list(range(1, k + 1)),
            "wnid": [wnids[i] for i in idx.tolist()],
            "name": [names.get(wnids[i], wnids[i]) for i in idx.tolist()],
            "distance": vals.tolist(),
        }
    )
