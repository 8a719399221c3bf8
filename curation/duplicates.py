"""Duplicate caption groups: exact after normalisation, and near by embedding similarity.

- Exact: captions whose text is equal after `normalize_caption_text` (lower case, punctuation
  removed, whitespace collapsed). Empty normalised texts are not grouped.
- Near: captions whose cached features (`curation.search.CaptionIndex`, unit rows) have a
  cosine >= threshold, joined transitively (connected components, i.e. union-find).

Finding every pair above a threshold exactly is N^2 / 2 dot products (449K captions: 1e11,
minutes on two cores), so candidate pairs come from random-hyperplane LSH (SimHash):
`n_bands` bands of `n_bits` sign bits each; two captions are compared (exactly) when a band
of theirs agrees. A pair at cosine c shares a band with probability
1 - (1 - (1 - arccos(c) / pi) ** n_bits) ** n_bands, 0.9999 at c = 0.9 with the defaults,
so the recall loss is small and stated; every reported pair is verified exactly. The pairs
are found once at `MIN_THRESHOLD` and kept with their cosine, so moving the threshold only
re-runs the connected components (milliseconds). Identical texts share one vector (the cache
is keyed by text), so they are hashed once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from curation.relevance.dataset import compute_caption_texts
from curation.relevance.decisions import BulkChange, update_decisions_bulk
from curation.relevance.specs import CaptionFilter
from curation.search import CaptionIndex, list_caption_texts
from db import explore as explore_db

DEFAULT_THRESHOLD = 0.95
MIN_THRESHOLD = 0.85  # pairs are collected down to this cosine; the slider's lower end
_PUNCT = re.compile(r"[^\w\s]|_", flags=re.UNICODE)


def check_threshold(threshold: object) -> float:
    """The threshold as a float.

    Raises:
        ValueError: not a number in (0, 1].
    """
    try:
        value = float(threshold)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number in (0, 1], got {threshold!r}") from None
    if not 0.0 < value <= 1.0:
        raise ValueError(f"threshold must be in (0, 1] (a cosine similarity), got {value}")
    return value


def normalize_caption_text(text: str) -> str:
    """Lower case, Unicode NFKC, punctuation (and '_') replaced by spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return " ".join(_PUNCT.sub(" ", text).split())


@dataclass(frozen=True)
class SimilarPairs:
    """Pairs of rows with cosine >= min_similarity, each once (a < b).

    Attributes:
        a, b: (P,) int64 row numbers. similarity: (P,) float32.
        n_rows: rows of the matrix they come from. n_candidates: pairs compared exactly.
    """

    a: np.ndarray
    b: np.ndarray
    similarity: np.ndarray
    n_rows: int
    min_similarity: float
    n_candidates: int = 0


def compute_similar_pairs(
    matrix: np.ndarray,
    *,
    min_similarity: float = MIN_THRESHOLD,
    n_bits: int = 20,
    n_bands: int = 40,
    seed: int = 0,
    n_planes: int = 256,
    window: int = 32,
    max_bucket: int = 2000,
) -> SimilarPairs:
    """Row pairs of a unit-row matrix with cosine >= min_similarity (SimHash candidates,
    verified exactly).

    Args:
        matrix: (N, D) float32 unit rows (identical rows are hashed once).
        n_bits, n_bands, n_planes: LSH shape: n_bands bands of n_bits signs sampled from
            n_planes random hyperplanes (the module docstring gives the recall).
        window: inside a band's bucket (rows sorted by hash), each row is compared with the
            next `window` rows; buckets of up to `max_bucket` rows are compared in full.

    Returns:
        The verified pairs (a < b).
    """
    min_similarity = check_threshold(min_similarity)
    unique, inverse = _unique_rows(np.asarray(matrix, dtype=np.float32))
    codes = _band_codes(
        unique, n_bits=n_bits, n_bands=n_bands, n_planes=n_planes, seed=seed
    )  # (U, bands)
    found, n_candidates = [], 0
    for band in range(n_bands):
        candidates = _band_candidates(codes[:, band], window, max_bucket)
        n_candidates += len(candidates)
        found.append(_verify(unique, candidates, min_similarity))
    return _to_rows(found, inverse, min_similarity, n_candidates)


def _unique_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(U, D) distinct rows and (N,) the distinct row of each row (rows told apart by a
    float64 random projection: distinct unit rows collide with probability ~0)."""
    probe = np.random.default_rng(12345).standard_normal(matrix.shape[1])
    _, first, inverse = np.unique(matrix @ probe, return_index=True, return_inverse=True)
    return matrix[first], inverse.reshape(-1).astype(np.int64)


def _band_codes(
    unique: np.ndarray, *, n_bits: int, n_bands: int, n_planes: int, seed: int
) -> np.ndarray:
    """(U, n_bands) int64: each band's n_bits signs, drawn from one pool of n_planes random
    hyperplanes (bit-sampling: one product with the pool instead of one per band)."""
    rng = np.random.default_rng(seed)
    planes = rng.standard_normal((unique.shape[1], n_planes), dtype=np.float32)
    bits = np.stack([rng.choice(n_planes, n_bits, replace=False) for _ in range(n_bands)])
    weights = 1 << np.arange(n_bits, dtype=np.int64)  # (bits,)
    codes = np.zeros((len(unique), n_bands), np.int64)
    for start in range(0, len(unique), 32768):
        signs = (unique[start : start + 32768] @ planes > 0).astype(np.int64)  # (B, planes)
        codes[start : start + len(signs)] = signs[:, bits] @ weights  # (B, bands)
    return codes


def _band_candidates(code: np.ndarray, window: int, max_bucket: int) -> np.ndarray:
    """(P, 2) pairs of distinct rows sharing this band's code."""
    order = np.argsort(code, kind="stable")
    ordered = code[order]
    out = []
    for offset in range(1, window + 1):
        same = np.flatnonzero(ordered[offset:] == ordered[:-offset])
        if not len(same):
            break
        out.append(np.stack([order[same], order[same + offset]], axis=1))
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(code)])
    large = (sizes > window + 1) & (sizes <= max_bucket)
    for start, size in zip(starts[large], sizes[large], strict=True):
        i, j = np.triu_indices(int(size), k=window + 1)  # the pairs the window missed
        out.append(np.stack([order[start + i], order[start + j]], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2), np.int64)


def _verify(unique: np.ndarray, pairs: np.ndarray, min_similarity: float) -> np.ndarray:
    """(P', 3) float64 [a, b, cosine] of the candidate pairs at or above min_similarity."""
    kept = []
    for start in range(0, len(pairs), 131072):
        chunk = pairs[start : start + 131072]
        sims = np.einsum("ij,ij->i", unique[chunk[:, 0]], unique[chunk[:, 1]])
        ok = sims >= min_similarity - 1e-6
        kept.append(np.column_stack([chunk[ok], sims[ok]]).astype(np.float64))
    return np.concatenate(kept) if kept else np.zeros((0, 3), np.float64)


def _to_rows(found, inverse, min_similarity, n_candidates) -> SimilarPairs:
    """Pairs of distinct rows mapped to rows (the first row of each), plus a chain of
    cosine-1 pairs through the rows that share a distinct row."""
    merged = np.concatenate(found) if found else np.zeros((0, 3))
    lo = np.minimum(merged[:, 0], merged[:, 1]).astype(np.int64)
    hi = np.maximum(merged[:, 0], merged[:, 1]).astype(np.int64)
    _, keep = np.unique(lo * (len(inverse) + 1) + hi, return_index=True)
    first = np.zeros(inverse.max() + 1 if len(inverse) else 0, np.int64)
    first[inverse[::-1]] = np.arange(len(inverse))[::-1]
    order = np.argsort(inverse, kind="stable")
    same = np.flatnonzero(inverse[order][1:] == inverse[order][:-1])
    a = np.r_[first[lo[keep]], order[same]]
    b = np.r_[first[hi[keep]], order[same + 1]]
    sims = np.r_[merged[keep, 2], np.ones(len(same))].astype(np.float32)
    return SimilarPairs(
        np.minimum(a, b), np.maximum(a, b), sims, len(inverse), min_similarity, n_candidates
    )


def compute_group_labels(n_rows: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) connected-component label of each row over the edges (a, b) (union-find)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n_rows, n_rows))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def compute_exact_labels(normalized: list[str]) -> np.ndarray:
    """(N,) one label per distinct normalised text; -1 for empty texts."""
    series = pl.Series("t", normalized, pl.Utf8)
    labels = series.rank("dense").cast(pl.Int64).to_numpy() - 1
    return np.where(series.str.len_chars().to_numpy() == 0, -1, labels)


@dataclass(frozen=True)
class DuplicateGroups:
    """Duplicate groups at one threshold.

    Attributes:
        groups: group_id, n_members, n_classes, cross_class (members of several classes: a
            label-noise signal), kind ('exact': one normalised text; 'near'), text (of the
            first member), largest first.
        members: group_id, caption_id, wnid, normalized (the normalised text).
        threshold: the cosine used. n_captions: captions looked at (exact: all; near: those
            with a cached feature, n_with_features).
    """

    groups: pl.DataFrame
    members: pl.DataFrame
    threshold: float
    n_captions: int
    n_with_features: int

    def summary(self) -> str:
        """One line for the user."""
        cross = int(self.groups["cross_class"].sum()) if self.groups.height else 0
        exact = int((self.groups["kind"] == "exact").sum()) if self.groups.height else 0
        return (
            f"{self.groups.height:,} duplicate groups ({exact:,} exact, "
            f"{self.groups.height - exact:,} near at cosine >= {self.threshold:.3f}; "
            f"{cross:,} span classes) holding {self.members.height:,} of "
            f"{self.n_captions:,} captions"
        )


def compute_duplicate_groups(
    texts: pl.DataFrame,
    *,
    pairs: SimilarPairs | None,
    pair_caption_ids: np.ndarray | None,
    threshold: float = DEFAULT_THRESHOLD,
) -> DuplicateGroups:
    """Groups of captions equal after normalisation or joined by pairs at cosine >= threshold.

    Args:
        texts: caption_id, wnid, text of every caption (`curation.search.list_caption_texts`).
        pairs: similar pairs over the rows of a caption index (None: exact groups only).
        pair_caption_ids: (N,) caption id of each row the pairs refer to.

    Raises:
        ValueError: threshold outside (0, 1], or below the pairs' min_similarity.
    """
    threshold = check_threshold(threshold)
    if pairs is not None and threshold < pairs.min_similarity - 1e-9:
        raise ValueError(
            f"threshold {threshold} is below {pairs.min_similarity}, the lowest cosine the "
            "pairs were collected at"
        )
    texts = with_normalized_texts(texts)
    normalized = texts["normalized"].to_list()
    exact = compute_exact_labels(normalized)
    ids = texts["caption_id"].to_numpy().astype(np.int64)
    a, b = _exact_edges(exact)
    if pairs is not None and len(pairs.a):
        keep = pairs.similarity >= threshold - 1e-6
        row_of = _rows_of(ids, np.asarray(pair_caption_ids, np.int64))
        a, b = np.r_[a, row_of[pairs.a[keep]]], np.r_[b, row_of[pairs.b[keep]]]
    labels = compute_group_labels(len(ids), a, b)
    frame = texts.select("caption_id", "wnid", "text", "normalized").with_columns(
        pl.Series("label", labels)
    )
    return _summarize(frame, threshold, len(ids), 0 if pairs is None else pairs.n_rows)


def with_normalized_texts(texts: pl.DataFrame) -> pl.DataFrame:
    """`texts` with a `normalized` column (`normalize_caption_text`), unless it has one."""
    if "normalized" in texts.columns:
        return texts
    normalized = [normalize_caption_text(t) for t in texts["text"].to_list()]
    return texts.with_columns(pl.Series("normalized", normalized, pl.Utf8))


def _exact_edges(exact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A chain of edges through the rows of each exact label (-1: none)."""
    order = np.argsort(exact, kind="stable")
    ordered = exact[order]
    same = np.flatnonzero((ordered[1:] == ordered[:-1]) & (ordered[1:] >= 0))
    return order[same], order[same + 1]


def _rows_of(ids: np.ndarray, caption_ids: np.ndarray) -> np.ndarray:
    """Row in `ids` (sorted ascending) of each caption id."""
    return np.searchsorted(ids, caption_ids)


def _summarize(frame: pl.DataFrame, threshold: float, n_captions: int, n_features: int):
    sizes = frame.group_by("label").agg(pl.len().alias("n"))
    members = frame.join(sizes.filter(pl.col("n") > 1), on="label").sort("label", "caption_id")
    groups = (
        members.group_by("label")
        .agg(
            pl.len().alias("n_members"),
            pl.col("wnid").n_unique().alias("n_classes"),
            pl.col("normalized").n_unique().alias("n_texts"),
            pl.col("text").first(),
            pl.col("caption_id").min().alias("first_id"),
        )
        .sort(["n_members", "first_id"], descending=[True, False])
        .with_row_index("group_id", offset=1)
        .with_columns(
            (pl.col("n_classes") > 1).alias("cross_class"),
            pl.when(pl.col("n_texts") == 1)
            .then(pl.lit("exact"))
            .otherwise(pl.lit("near"))
            .alias("kind"),
            pl.col("group_id").cast(pl.Int64),
        )
    )
    members = (
        members.join(groups.select("label", "group_id"), on="label")
        .select("group_id", "caption_id", "wnid", "normalized")
        .sort("group_id", "caption_id")
    )
    return DuplicateGroups(
        groups.select("group_id", "n_members", "n_classes", "cross_class", "kind", "text"),
        members,
        threshold,
        n_captions,
        n_features,
    )


def find_duplicate_groups(
    con: duckdb.DuckDBPyConnection,
    index: CaptionIndex | None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    pairs: SimilarPairs | None = None,
    texts: pl.DataFrame | None = None,
) -> DuplicateGroups:
    """Duplicate groups of every caption: exact ones always, near ones over the captions of
    `index` (None: exact only). `pairs`: from an earlier `compute_similar_pairs` over
    `index.matrix`, `texts`: from `with_normalized_texts(list_caption_texts(con))` (a page
    keeps both while the threshold moves)."""
    threshold = check_threshold(threshold)
    if index is not None and index.size and pairs is None:
        pairs = compute_similar_pairs(index.matrix, min_similarity=min(threshold, MIN_THRESHOLD))
    use_pairs = index is not None and index.size > 0
    return compute_duplicate_groups(
        list_caption_texts(con) if texts is None else texts,
        pairs=pairs if use_pairs else None,
        pair_caption_ids=index.caption_ids if use_pairs else None,
        threshold=threshold,
    )


def list_group_members(
    con: duckdb.DuckDBPyConnection, groups: DuplicateGroups, group_id: int
) -> pl.DataFrame:
    """The members of one group with their class, file, text fields and a person's decision.

    Raises:
        ValueError: no such group at this threshold.
    """
    ids = groups.members.filter(pl.col("group_id") == int(group_id))["caption_id"].to_list()
    if not ids:
        raise ValueError(f"There is no duplicate group {group_id} at this threshold.")
    return explore_db.list_caption_details(con, ids)


def update_group_decisions(
    con: duckdb.DuckDBPyConnection,
    caption_ids: list[int],
    *,
    keep_caption_id: int | None,
    reason: str,
    actor: str,
) -> BulkChange:
    """Drop a duplicate group's captions as one undoable bulk event: every member but
    `keep_caption_id` ("keep one, drop the rest"; the kept one's decision is unchanged), or
    all of them (keep_caption_id None: "drop the group").

    Raises:
        ValueError: keep_caption_id not in the group, nothing to drop, empty reason/actor.
    """
    ids = sorted({int(i) for i in caption_ids})
    if keep_caption_id is not None and int(keep_caption_id) not in ids:
        raise ValueError(f"Caption {keep_caption_id} is not in this group.")
    dropped = tuple(i for i in ids if keep_caption_id is None or i != int(keep_caption_id))
    if not dropped:
        raise ValueError("Nothing to drop: the group has one member.")
    return update_decisions_bulk(
        con,
        CaptionFilter(caption_ids=dropped),
        decision="drop",
        reason=reason,
        actor=actor,
        expected_count=len(dropped),
    )


def format_groups_json(con: duckdb.DuckDBPyConnection, groups: DuplicateGroups) -> list[dict]:
    """Every group with its members' caption_id, filename, wnid and text (`--json`)."""
    details = explore_db.list_caption_details(con, groups.members["caption_id"].to_list())
    texts = dict(zip(details["caption_id"], compute_caption_texts(details), strict=True))
    files = dict(zip(details["caption_id"], details["filename"], strict=True))
    members = groups.members.group_by("group_id", maintain_order=True).agg("caption_id", "wnid")
    by_group = {r["group_id"]: r for r in members.iter_rows(named=True)}
    out = []
    for group in groups.groups.iter_rows(named=True):
        row = by_group[group["group_id"]]
        out.append(
            {
                **{k: group[k] for k in ("group_id", "kind", "n_members", "n_classes")},
                "cross_class": bool(group["cross_class"]),
                "members": [
                    {"caption_id": c, "filename": files[c], "wnid": w, "text": texts[c]}
                    for c, w in zip(row["caption_id"], row["wnid"], strict=True)
                ],
            }
        )
    return out
