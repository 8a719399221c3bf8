"""The embeddings map: the sample cap, PCA shapes and determinism, the UMAP job cached under
the storage root (found again by the page's key, never recomputed), the points' colour
columns, and a box/lasso selection turned into the filter of a bulk keep/drop."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curation import projection as proj
from curation.relevance import decisions
from curation.search import CaptionFeatureSpec, load_caption_index, run_compute_caption_features
from db.storage import get_storage
from tests.relevance_helpers import (  # noqa: F401 (fixtures)
    CLASS_TEXT,
    fill_relevance_db,
    tiny_encoder_dir,
    torch_single_thread,
)


def test_sample_keeps_chosen_classes_caps_points_and_is_deterministic():
    row_wnids = np.array(["a"] * 500 + ["b"] * 300 + ["c"] * 10, dtype=object)
    rows, n = proj.compute_sample_rows(row_wnids, ["a", "c"], max_points=100, seed=1)
    assert rows.shape == (100,) and n == 510
    assert set(row_wnids[rows]) <= {"a", "c"} and np.all(np.diff(rows) > 0)
    again, _ = proj.compute_sample_rows(row_wnids, ["c", "a"], max_points=100, seed=1)
    assert again.tolist() == rows.tolist()
    every, n_all = proj.compute_sample_rows(row_wnids, [], max_points=1000)
    assert every.tolist() == list(range(810)) and n_all == 810
    for bad in (0, 10**9, 2.5, True):
        with pytest.raises(ValueError, match="max_points"):
            proj.compute_sample_rows(row_wnids, [], max_points=bad)


def test_pca_gives_two_columns_that_separate_two_clusters():
    rng = np.random.default_rng(0)
    centre = np.zeros(32)
    centre[3] = 5.0
    matrix = np.r_[rng.normal(size=(40, 32)), rng.normal(size=(60, 32)) + centre]  # (100, 32)
    coords = proj.compute_pca(matrix)
    assert coords.shape == (100, 2) and coords.dtype == np.float32
    first = coords[:, 0]
    assert (first[:40].max() < first[40:].min()) or (first[:40].min() > first[40:].max())
    assert np.allclose(proj.compute_pca(matrix), coords)
    assert proj.compute_pca(np.ones((1, 4))).shape == (1, 2)
    assert proj.compute_pca(np.arange(6.0)[:, None]).shape == (6, 2)
    with pytest.raises(ValueError, match="non-empty"):
        proj.compute_pca(np.zeros((0, 4)))


def test_selection_points_become_the_filter_of_a_bulk_drop(con):
    fill_relevance_db(con, per_class=3)
    points = [{"customdata": [3], "x": 0.1}, {"customdata": 1}, {"customdata": [3]}, {"x": 2}]
    ids = proj.compute_selected_caption_ids(points)
    assert ids == (1, 3)
    caption_filter = proj.compute_selection_filter(ids)
    assert decisions.list_filtered_caption_ids(con, caption_filter) == [1, 3]
    change = decisions.update_decisions_bulk(
        con, caption_filter, decision="drop", reason="map", actor="t", expected_count=2
    )
    assert change.n_captions == 2
    with pytest.raises(ValueError, match="Nothing is selected"):
        proj.compute_selection_filter(())


def test_group_labels_colour_the_largest_groups_only():
    members = pl.DataFrame(
        {"group_id": [1, 1, 1, 2, 2, 3, 3], "caption_id": [10, 11, 12, 20, 21, 30, 31]}
    )
    labels = proj.compute_group_labels_of(members, np.array([10, 11, 20, 21, 30, 99]), top=2)
    assert labels == ["group 1", "group 1", "group 2", "group 2", "another group", "no duplicate"]


@pytest.fixture
def indexed(con, tmp_path, tiny_encoder_dir):  # noqa: F811
    fill_relevance_db(con, per_class=8)
    spec = CaptionFeatureSpec(encoder=str(tiny_encoder_dir), max_length=64, cache_dir=str(tmp_path))
    report = run_compute_caption_features(con, spec)
    key = report["encoder_key"]
    index = load_caption_index(con, encoder_key=key, max_length=64, cache_dir=tmp_path)
    return con, index, tmp_path


def test_umap_job_caches_the_map_under_the_storage_root(indexed):
    con, index, cache_dir = indexed
    wnids = tuple(list(CLASS_TEXT)[:2])
    spec = proj.ProjectionSpec(
        encoder_key=index.encoder_key,
        wnids=wnids,
        max_points=10,
        max_length=64,
        cache_dir=str(cache_dir),
    )
    sample = proj.compute_map_sample(index, spec)
    assert len(sample.rows) == 10 and sample.n_matching == 17
    assert "sample of 10 of the 17" in sample.describe()
    assert proj.load_cached_projection(con, sample) is None
    result = proj.run_compute_umap_projection(con, spec)
    path = proj.get_projection_path(con, sample.key)
    assert result["path"] == str(path) and not result["cached"]
    assert path.is_relative_to(get_storage(con).root)
    coords = proj.load_cached_projection(con, sample)
    assert coords.shape == (10, 2) and np.isfinite(coords).all()
    assert proj.run_compute_umap_projection(con, spec)["cached"]
    other = proj.compute_map_sample(index, proj.ProjectionSpec(**{**spec.to_dict(), "seed": 1}))
    assert other.key != sample.key and proj.load_cached_projection(con, other) is None
    points = proj.list_map_points(con, sample, coords)
    assert points["caption_id"].to_list() == sample.caption_ids.tolist()
    assert set(points["wnid"]) <= set(wnids) and points["decision"].to_list() == ["none"] * 10
    assert points["hover"].str.len_chars().max() <= proj.HOVER_CHARS
