"""The embeddings map: a 2-D projection of the caption features of chosen classes.

The points are the rows of the caption index (`curation.search.CaptionIndex`: one unit
feature per caption) whose class is chosen, sampled down to `max_points` with a fixed seed,
so the page never draws (or projects) more than it can show and the same choice gives the
same sample. Two projections:

- PCA (`compute_pca`): the two leading principal axes, instant (one thin SVD), on the page.
- UMAP (`compute_umap`, umap-learn): seconds to minutes, so it runs as the `caption-map`
  job (`run_compute_umap_projection`) and is cached under the storage root's
  cache/projections/ as parquet (caption_id, x, y), keyed by the spec and the sampled
  captions' feature keys (`compute_projection_key`): the page finds it with
  `load_cached_projection` without asking the job.

A box or lasso selection on the map is a set of caption ids (`compute_selected_caption_ids`),
which `compute_selection_filter` turns into the `CaptionFilter` the bulk keep/drop uses.
umap-learn (numba) is imported only where UMAP runs.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from contract.progress import Progress, no_progress
from contract.specs import JsonSpec
from curation.relevance.specs import CaptionFilter
from curation.search import CaptionIndex, load_caption_index
from db import explore as explore_db
from db.storage import get_storage

DEFAULT_MAX_POINTS = 20_000
MAX_POINTS_LIMIT = 50_000  # what a browser still draws smoothly with WebGL
MIN_UMAP_POINTS = 5
PROJECTIONS_FOLDER = "projections"
HOVER_CHARS = 160  # hover text per point: the title and description, cut to this length
SCORE_COLUMNS = ("p_own", "suspect_wrong_class", "suspect_no_content")
TOP_GROUPS = 12  # duplicate groups with a colour of their own; the rest share one


@dataclass(frozen=True)
class ProjectionSpec(JsonSpec):
    """A UMAP map of the captions of some classes (the `caption-map` job).

    Attributes:
        encoder_key: the caption features' cache folder (`CaptionIndex.encoder_key`).
        wnids: the classes shown; () = every class.
        max_points: the sample size cap. seed: the sample's and UMAP's random seed.
        n_neighbors, min_dist: UMAP's two main parameters.
        max_length: tokens per text (part of the feature cache key: the relevance runs' 128).
        cache_dir: the text features' folder; '' = the storage root's text-features/.
    """

    encoder_key: str
    wnids: tuple[str, ...] = ()
    max_points: int = DEFAULT_MAX_POINTS
    seed: int = 0
    n_neighbors: int = 15
    min_dist: float = 0.1
    max_length: int = 128
    cache_dir: str = ""

    def __post_init__(self) -> None:
        if not self.encoder_key:
            raise ValueError("encoder_key is empty: name the caption features' encoder key")
        check_max_points(self.max_points)
        if self.n_neighbors < 2 or not 0.0 <= self.min_dist <= 1.0:
            raise ValueError("need n_neighbors >= 2 and min_dist in [0, 1]")
        object.__setattr__(self, "wnids", tuple(sorted(set(self.wnids))))


def check_max_points(max_points: object) -> int:
    """`max_points` as an int.

    Raises:
        ValueError: not an integer in [MIN_UMAP_POINTS, MAX_POINTS_LIMIT].
    """
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)):
        raise ValueError(f"max_points must be an integer, got {max_points!r}")
    if not MIN_UMAP_POINTS <= int(max_points) <= MAX_POINTS_LIMIT:
        raise ValueError(
            f"max_points must be between {MIN_UMAP_POINTS} and {MAX_POINTS_LIMIT:,}, "
            f"got {max_points}"
        )
    return int(max_points)


def compute_sample_rows(
    row_wnids: np.ndarray, wnids: Iterable[str], *, max_points: int, seed: int = 0
) -> tuple[np.ndarray, int]:
    """The rows of the chosen classes, sampled without replacement down to `max_points`.

    Args:
        row_wnids: (N,) the class of each index row. wnids: the chosen classes (empty: all).

    Returns:
        ((M,) int64 row numbers, ascending, M = min(max_points, matching), the number of
        rows that matched before sampling).
    """
    max_points = check_max_points(max_points)
    chosen = list(wnids)
    row_wnids = np.asarray(row_wnids, dtype=object)
    matching = np.flatnonzero(np.isin(row_wnids, chosen)) if chosen else np.arange(len(row_wnids))
    if len(matching) <= max_points:
        return matching.astype(np.int64), int(len(matching))
    picked = np.random.default_rng(seed).choice(matching, size=max_points, replace=False)
    return np.sort(picked).astype(np.int64), int(len(matching))


def compute_pca(matrix: np.ndarray) -> np.ndarray:
    """(M, 2) float32: the rows on their two leading principal axes (signs fixed so the
    largest loading of each axis is positive: the same rows give the same picture).

    Args:
        matrix: (M, D) features; M >= 1 (one row maps to the origin).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ValueError(f"need a non-empty (M, D) matrix, got shape {matrix.shape}")
    centered = matrix - matrix.mean(axis=0, keepdims=True)  # (M, D)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)  # vt: (min(M, D), D)
    axes = vt[:2]
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    coords = centered @ (axes * np.where(signs == 0, 1.0, signs)[:, None]).T  # (M, <=2)
    if coords.shape[1] < 2:  # a single feature dimension: the second axis is flat
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords.astype(np.float32)


def compute_umap(
    matrix: np.ndarray, *, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0
) -> np.ndarray:
    """(M, 2) float32 UMAP coordinates of unit rows (cosine metric), deterministic per seed.

    Raises:
        ValueError: fewer than MIN_UMAP_POINTS rows.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] < MIN_UMAP_POINTS:
        raise ValueError(
            f"UMAP needs at least {MIN_UMAP_POINTS} captions with features, got "
            f"{matrix.shape[0] if matrix.ndim == 2 else 0}"
        )
    import umap

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(int(n_neighbors), matrix.shape[0] - 1),
        min_dist=float(min_dist),
        metric="cosine",
        random_state=int(seed),
        n_jobs=1,  # a seed makes it single-threaded anyway; say so instead of warning
    )
    return np.asarray(reducer.fit_transform(matrix), dtype=np.float32)


def compute_projection_key(spec: ProjectionSpec, text_keys: Iterable[str]) -> str:
    """24 hex: the UMAP parameters and the features of the sampled captions (their cache
    keys, in row order). Equal keys = an equal map."""
    digest = hashlib.sha256()
    params = (spec.encoder_key, spec.max_length, spec.n_neighbors, spec.min_dist, spec.seed)
    digest.update(repr(params).encode())
    for key in text_keys:
        digest.update(str(key).encode() + b"\0")
    return digest.hexdigest()[:24]


def get_projection_path(con: duckdb.DuckDBPyConnection, key: str) -> Path:
    """Where a cached UMAP map lives: the storage root's cache/projections/umap-<key>.parquet."""
    return get_storage(con).cache / PROJECTIONS_FOLDER / f"umap-{key}.parquet"


@dataclass(frozen=True)
class MapSample:
    """The sampled points of a map.

    Attributes:
        rows: (M,) index rows. caption_ids: (M,) their caption ids, ascending.
        n_matching: captions with features in the chosen classes before sampling.
        key: the UMAP cache key of this sample (`compute_projection_key`).
    """

    rows: np.ndarray
    caption_ids: np.ndarray
    n_matching: int
    key: str

    def describe(self) -> str:
        """One line for the user: how many points of how many."""
        if len(self.rows) == self.n_matching:
            return f"all {self.n_matching:,} captions with features in the chosen classes"
        return (
            f"a random sample of {len(self.rows):,} of the {self.n_matching:,} captions with "
            "features in the chosen classes"
        )


def compute_map_sample(index: CaptionIndex, spec: ProjectionSpec) -> MapSample:
    """The points a map of `spec` shows (the same for PCA and UMAP)."""
    rows, n_matching = compute_sample_rows(
        index.wnids, spec.wnids, max_points=spec.max_points, seed=spec.seed
    )
    return MapSample(
        rows=rows,
        caption_ids=index.caption_ids[rows],
        n_matching=n_matching,
        key=compute_projection_key(spec, index.text_keys[rows]),
    )


def load_cached_projection(con: duckdb.DuckDBPyConnection, sample: MapSample) -> np.ndarray | None:
    """(M, 2) the cached UMAP coordinates of this sample, or None when not computed yet."""
    path = get_projection_path(con, sample.key)
    if not path.is_file():
        return None
    frame = pl.read_parquet(path)
    if frame["caption_id"].to_numpy().tolist() != sample.caption_ids.tolist():
        return None  # a foreign file under our name: recompute rather than mislabel points
    return np.stack([frame["x"].to_numpy(), frame["y"].to_numpy()], axis=1).astype(np.float32)


def _write_projection(path: Path, caption_ids: np.ndarray, coords: np.ndarray) -> None:
    """Write atomically: a reader sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame = pl.DataFrame({"caption_id": caption_ids, "x": coords[:, 0], "y": coords[:, 1]})
    frame.write_parquet(tmp)
    os.replace(tmp, path)


def run_compute_umap_projection(
    con: duckdb.DuckDBPyConnection, spec: ProjectionSpec, progress: Progress | None = None
) -> dict:
    """Job entry point: the UMAP map of a spec's sample, cached under the storage root.

    Returns:
        key, path, n_points, n_matching, seconds (0 and cached=True when it was cached).
    """
    if not isinstance(spec, ProjectionSpec):
        raise ValueError(f"spec must be a ProjectionSpec, got {type(spec).__name__}")
    progress = progress or no_progress
    progress(0.0, "reading the caption features")
    index = load_caption_index(
        con,
        encoder_key=spec.encoder_key,
        max_length=spec.max_length,
        cache_dir=spec.cache_dir or get_storage(con).text_features,
    )
    sample = compute_map_sample(index, spec)
    path = get_projection_path(con, sample.key)
    result = {"key": sample.key, "path": str(path), "n_points": int(len(sample.rows))}
    result["n_matching"] = sample.n_matching
    if load_cached_projection(con, sample) is not None:
        progress(1.0, "this map was computed before")
        return {**result, "seconds": 0.0, "cached": True}
    progress(0.1, f"UMAP of {len(sample.rows):,} captions (the first run compiles: a minute)")
    start = time.perf_counter()
    coords = compute_umap(
        index.matrix[sample.rows],
        n_neighbors=spec.n_neighbors,
        min_dist=spec.min_dist,
        seed=spec.seed,
    )
    _write_projection(path, sample.caption_ids, coords)
    seconds = round(time.perf_counter() - start, 2)
    progress(1.0, f"UMAP map of {len(sample.rows):,} captions ready ({seconds:.0f} s)")
    return {**result, "seconds": seconds, "cached": False}


def compute_selected_caption_ids(points: Iterable[dict]) -> tuple[int, ...]:
    """The caption ids of the points of a box/lasso selection (each point's `customdata`:
    its caption id, or a list whose first item is), unique and ascending."""
    ids = set()
    for point in points:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if data is not None:
            ids.add(int(data))
    return tuple(sorted(ids))


def compute_selection_filter(caption_ids: Iterable[int]) -> CaptionFilter:
    """The filter of a map selection, for the bulk keep/drop (one undoable event).

    Raises:
        ValueError: an empty selection (it would match every caption).
    """
    ids = tuple(sorted({int(i) for i in caption_ids}))
    if not ids:
        raise ValueError("Nothing is selected: draw a box or a lasso around points on the map.")
    return CaptionFilter(caption_ids=ids)


def list_map_points(
    con: duckdb.DuckDBPyConnection,
    sample: MapSample,
    coords: np.ndarray,
    *,
    model_version: int | None = None,
) -> pl.DataFrame:
    """The points of a map with what they can be coloured by.

    Args:
        coords: (M, 2) the projection of `sample` (rows in `sample.caption_ids` order).
        model_version: whose scores give p_own and the suspect scores (None: null columns).

    Returns:
        caption_id, x, y, wnid, class ("name (wnid)"), decision (a person's, or "none"),
        hover (title and description, cut to HOVER_CHARS), p_own, suspect_wrong_class,
        suspect_no_content; in caption_id order.
    """
    coords = np.asarray(coords, dtype=np.float32)
    if coords.shape != (len(sample.caption_ids), 2):
        raise ValueError(f"coords must be ({len(sample.caption_ids)}, 2), got {coords.shape}")
    ids = sample.caption_ids.tolist()
    points = pl.DataFrame(
        {"caption_id": sample.caption_ids, "x": coords[:, 0], "y": coords[:, 1]},
        schema={"caption_id": pl.Int64, "x": pl.Float32, "y": pl.Float32},
    )
    details = explore_db.list_caption_details(con, ids).select(
        "caption_id",
        "wnid",
        pl.format("{} ({})", pl.col("class_name").fill_null("?"), "wnid").alias("class"),
        pl.col("decision").fill_null("none"),
        pl.concat_str(
            [pl.col("title").fill_null(""), pl.col("description").fill_null("")], separator=" | "
        )
        .str.slice(0, HOVER_CHARS)
        .alias("hover"),
    )
    if model_version is None:
        scores = pl.DataFrame(
            schema={"caption_id": pl.Int64} | dict.fromkeys(SCORE_COLUMNS, pl.Float64)
        )
    else:
        scores = explore_db.list_caption_scores(con, model_version, ids)
    return points.join(details, on="caption_id", how="left").join(
        scores, on="caption_id", how="left"
    )


def compute_group_labels_of(
    members: pl.DataFrame, caption_ids: np.ndarray, *, top: int = TOP_GROUPS
) -> list[str]:
    """A colour label per caption: "group <id>" for the `top` groups with the most members
    among `caption_ids`, "another group" for the other grouped ones, "no duplicate" else.

    Args:
        members: group_id, caption_id of every grouped caption (`DuplicateGroups.members`).
        caption_ids: (M,) the map's captions.
    """
    shown = members.filter(pl.col("caption_id").is_in(np.asarray(caption_ids).tolist()))
    largest = (
        shown.group_by("group_id")
        .agg(pl.len().alias("n"))
        .sort(["n", "group_id"], descending=[True, False])
        .head(top)["group_id"]
        .to_list()
    )
    group_of = dict(zip(shown["caption_id"].to_list(), shown["group_id"].to_list(), strict=True))
    labels = []
    for caption_id in np.asarray(caption_ids).tolist():
        group = group_of.get(caption_id)
        if group is None:
            labels.append("no duplicate")
        else:
            labels.append(f"group {group}" if group in largest else "another group")
    return labels
