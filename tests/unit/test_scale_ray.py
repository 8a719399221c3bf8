"""The Ray engine on a real local Ray instance (2 CPUs): the same features and shards as the
local engine from `workbench image-sets embed --engine ray`, cancel stops the actors, a
failing batch is one line, and no Ray process outlives the module."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import torch
from safetensors import safe_open

import tests.relevance_helpers as helpers
from cli.main import main
from db.connect import connect
from db.image_sets import get_image_set_id
from extension.images.sets import load_set_features
from extension.images.store import open_feature_store
from extension.images.uploads import write_sample_photo_folder
from extension.models import compute_model_key, load_base_model
from scale.batch import run_vector_job
from scale.cluster import connect_ray
from scale.specs import ActorPoolSpec, EngineSpec
from tests.extension_helpers import TINY_MODEL
from tests.scale_helpers import (
    OBJECT_STORE_BYTES,
    RAY_CPUS,
    FailingEncoder,
    SlowEncoder,
    list_descendants,
    wait_until_gone,
)

pytest.importorskip("ray", reason="the Ray engine needs the 'scale' extra")

frozen_scored_db = helpers.frozen_scored_db  # fixtures
tiny_encoder_dir = helpers.tiny_encoder_dir

# fp32 features of the same weights on the same pixels; the engines differ only in torch's
# thread count (reduction order), measured at about 2e-9.
ATOL, RTOL = 1e-5, 1e-5


@pytest.fixture(scope="module")
def ray_instance():
    """One local instance for the module, started and stopped by `connect_ray`; afterwards
    every process it started (GCS, raylet, workers) must be gone."""
    # Other tests' processes (the session's Chromium, servers shutting down) are not Ray's.
    before = list_descendants(os.getpid())
    with connect_ray("", num_cpus=RAY_CPUS, object_store_memory=OBJECT_STORE_BYTES) as ray:
        yield ray
        started = list_descendants(os.getpid()) - before
        assert started, "a local Ray instance runs processes below this one"
    assert not ray.is_initialized()
    assert wait_until_gone(started) == set()


@pytest.fixture
def photo_db(tmp_path):
    """A database with the 20 sample photos (plus one file that is no image) registered as
    'photos', and the tiny model's weights as a file the CLI can load."""
    folder = write_sample_photo_folder(tmp_path / "photos")
    broken = next(folder.iterdir()) / "broken.jpg"
    broken.write_bytes(b"this is not a jpeg")
    db = str(tmp_path / "wb.duckdb")
    assert main(["image-sets", "add", str(folder), "--db", db, "--name", "photos", "--create"]) == 0
    weights = tmp_path / "tiny.safetensors"
    model = load_base_model(TINY_MODEL)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return db, str(weights), compute_model_key(model)


def _embed(db, weights, cache, capsys, *engine) -> dict:
    args = ["image-sets", "embed", "photos", "--db", db, "--cache-dir", str(cache), "--json"]
    args += ["--model", "test_efficientnet", "--weights", weights, "--chunk-size", "6"]
    assert main(args + list(engine)) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_ray_engine_stores_the_local_engines_features(ray_instance, photo_db, tmp_path, capsys):
    db, weights, model_key = photo_db
    capsys.readouterr()
    local = _embed(db, weights, tmp_path / "local", capsys)
    on_ray = _embed(db, weights, tmp_path / "ray", capsys, "--engine", "ray", "--ray-actors", "2")
    assert on_ray["engine"] == "ray" and on_ray["actors"] == 2 and on_ray["device"] == "cpu"
    for key in ("model_key", "n_items", "n_embedded", "n_new", "n_failed"):
        assert on_ray[key] == local[key], key
    assert (on_ray["n_items"], on_ray["n_embedded"], on_ray["n_failed"]) == (21, 20, 1)
    assert on_ray["model_key"] == model_key
    stores = [open_feature_store(model_key, cache_dir=tmp_path / n) for n in ("local", "ray")]
    assert stores[0].known() == stores[1].known() and len(stores[0].known()) == 20
    digests = sorted(stores[0].known())
    torch.testing.assert_close(stores[1].get(digests), stores[0].get(digests), atol=ATOL, rtol=RTOL)
    shards = sorted(stores[1].folder.glob("shard-*.safetensors"))
    assert len(shards) == 4  # 21 files in chunks of 6, one shard per Ray batch
    for shard in shards:
        with safe_open(str(shard), "pt") as tensors:
            assert sorted(tensors.keys()) == ["features", "sha256"]
            assert tensors.get_tensor("sha256").dtype == torch.uint8
            assert tensors.get_tensor("features").dtype == torch.float32
    con = connect(db)
    try:  # the readers of the store see the Ray shards as they see the local ones
        set_id = get_image_set_id(con, "photos")
        features, items = load_set_features(con, set_id, model_key, cache_dir=tmp_path / "ray")
    finally:
        con.close()
    assert features.shape == (20, stores[0].get(digests[:1]).shape[1]) and items.height == 20


def test_ray_engine_stores_the_local_engines_caption_features(ray_instance, tmp_path):
    from curation.relevance.tiny import build_tiny_encoder
    from encoders.cache import load_text_features
    from encoders.loading import compute_encoder_key, load_encoder

    texts = [f"a {w} photo of a {c} number {i}" for i, (w, c) in enumerate(_WORDS * 3)]
    texts += texts[:4]  # texts met twice are encoded once
    encoder, tokenizer = load_encoder(
        str(build_tiny_encoder(tmp_path / "enc", texts, vocab_size=200))
    )
    common = {"encoder_key": compute_encoder_key("tiny", encoder), "max_length": 32}
    common |= {"batch_size": 4, "chunk_size": 5}
    local, local_report = load_text_features(
        encoder, tokenizer, texts, cache_dir=tmp_path / "local", **common
    )
    pool = ActorPoolSpec(actors=2)
    on_ray, ray_report = load_text_features(
        encoder,
        tokenizer,
        texts,
        cache_dir=tmp_path / "ray",
        engine=EngineSpec("ray", pool=pool),
        **common,
    )
    assert (
        (ray_report.n_unique, ray_report.n_new)
        == (local_report.n_unique, local_report.n_new)
        == (18, 18)
    )
    np.testing.assert_allclose(on_ray, local, atol=ATOL, rtol=RTOL)
    assert len(list((tmp_path / "ray").rglob("shard-*.safetensors"))) == 4  # 18 texts in 5s
    again, report = load_text_features(
        encoder,
        tokenizer,
        texts,
        cache_dir=tmp_path / "ray",
        engine=EngineSpec("ray", pool=pool),
        **common,
    )
    assert report.n_new == 0 and np.array_equal(again, on_ray)  # the cache is read, no Ray job


_WORDS = [
    ("red", "cat"),
    ("blue", "fish"),
    ("green", "bike"),
    ("old", "plane"),
    ("big", "dog"),
    ("wet", "ship"),
]


class _Cancelled(Exception):
    pass


def test_cancel_stops_the_ray_actors(ray_instance, tmp_path):
    reports = []

    def progress(fraction, message=""):
        reports.append(fraction)
        if fraction > 0:
            raise _Cancelled("the user cancelled the job")

    rows = [{"index": i} for i in range(40)]
    pool = ActorPoolSpec(actors=2)
    with pytest.raises(_Cancelled):
        run_vector_job(
            rows, SlowEncoder(0.5), tmp_path, pool=pool, rows_per_batch=1, progress=progress
        )
    deadline = time.monotonic() + 15
    while ray_instance.available_resources().get("CPU", 0) < RAY_CPUS:
        assert time.monotonic() < deadline, "the actors still hold their CPUs after the cancel"
        time.sleep(0.2)
    written = len(list(tmp_path.glob("shard-*.safetensors")))
    time.sleep(2.0)  # 4 more batches' time: a pool still running would write more shards
    assert len(list(tmp_path.glob("shard-*.safetensors"))) == written < 40


def test_a_failing_batch_is_one_line_naming_the_error(ray_instance, tmp_path):
    with pytest.raises(RuntimeError) as caught:
        run_vector_job([{"index": 0}, {"index": 1}], FailingEncoder(), tmp_path)
    message = str(caught.value)
    assert message.startswith("the Ray job failed: ValueError: batch of 2 rows refused on purpose")
    assert "\n" not in message


def test_frozen_scoring_on_ray_gives_the_local_scores(ray_instance, frozen_scored_db, tmp_path):
    import shutil

    import polars as pl

    from curation.relevance.score import run_score_relevance
    from curation.relevance.specs import ScoringSpec
    from db.relevance_scores import list_scored_captions

    source, version = frozen_scored_db
    db = tmp_path / "copy.duckdb"
    shutil.copy(source, db)
    cache = source.parent  # the run's feature cache: one folder per encoder key
    stores = [p.parent for p in cache.glob("*/shard-*.safetensors")]
    assert stores
    for store in set(stores):
        shutil.rmtree(store)  # every caption feature must now be computed again, on Ray
    con = connect(db)
    try:
        local = list_scored_captions(con, version).select("caption_id", "p_own").sort("caption_id")
        spec = ScoringSpec(
            model_version=version,
            engine=EngineSpec("ray", pool=ActorPoolSpec(actors=1)),
            device="cpu",
        )
        report = run_score_relevance(con, spec)
        again = list_scored_captions(con, version).select("caption_id", "p_own").sort("caption_id")
    finally:
        con.close()
    assert report["n_scored"] == local.height and any(cache.glob("*/shard-*.safetensors"))
    assert report["features"]["engine"] == "ray" and report["features"]["n_new"] > 0
    joined = local.join(again, on="caption_id", suffix="_ray")
    np.testing.assert_allclose(joined["p_own"], joined["p_own_ray"], atol=1e-5, rtol=1e-5)
    assert pl.Series(joined["p_own"]).len() == local.height
