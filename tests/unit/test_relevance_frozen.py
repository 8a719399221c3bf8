"""Frozen mode: the feature cache (keyed by encoder weights, max_length and text; computed
once), stratified folds, cross-fitted heads that score each caption out of sample, and the
training/scoring runs through the library and the job adapter."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

import tests.relevance_helpers as helpers
from curation.relevance import frozen
from curation.relevance.checkpoint import CheckpointMismatchError, load_run_meta, save_run_meta
from curation.relevance.dataset import compute_caption_texts
from curation.relevance.score import run_score_relevance
from curation.relevance.specs import FrozenHeadSpec, ScoringSpec, TrainSpec
from curation.relevance.train import run_train_relevance
from db import relevance as relevance_db
from db import relevance_scores as scores_db
from encoders.cache import load_text_features
from encoders.loading import compute_encoder_key, load_encoder
from encoders.pooling import compute_text_features
from tests.relevance_helpers import fill_relevance_db, insert_caption

tiny_encoder_dir = helpers.tiny_encoder_dir  # fixtures
torch_single_thread = helpers.torch_single_thread  # fixtures

TEXTS = ["a green tench in a pond", "orange goldfish", "a shark", "a green tench in a pond"]


def _frozen_spec(tmp_path, encoder_dir, name="frozen", **head) -> TrainSpec:
    """Six epochs of exactly one pass each (min_steps=0), so epochs can be counted."""
    return helpers.frozen_spec(tmp_path, encoder_dir, name, **{"epochs": 6, "min_steps": 0, **head})


def test_features_are_computed_once_per_encoder_weights_max_length_and_text(
    tiny_encoder_dir, tmp_path
):
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    key = compute_encoder_key("tiny", encoder)
    options = dict(encoder_key=key, max_length=64, cache_dir=tmp_path, batch_size=2)
    first, report = load_text_features(encoder, tokenizer, TEXTS, **options)
    assert first.shape == (4, 32) and first.dtype == np.float32
    assert (report.n_unique, report.n_new, report.n_cached) == (3, 3, 0)
    np.testing.assert_array_equal(first[0], first[3])  # same text, same row
    again, report = load_text_features(encoder, tokenizer, TEXTS[::-1], **options)
    assert (report.n_new, report.n_cached) == (0, 3)
    np.testing.assert_allclose(again[::-1], first, rtol=1e-6)
    # batched by length, returned in input order: equal to one text at a time
    alone = np.stack(
        [compute_text_features(encoder, tokenizer, [t], max_length=64)[0] for t in TEXTS]
    )
    np.testing.assert_allclose(first, alone, rtol=1e-4, atol=1e-5)
    _, report = load_text_features(encoder, tokenizer, TEXTS, **{**options, "max_length": 32})
    assert report.n_new == 3  # another max_length is another key
    import torch

    with torch.no_grad():  # other weights under the same name: another encoder key
        next(encoder.parameters()).add_(1.0)
    encoder.__dict__.pop("_workbench_encoder_key", None)
    other = compute_encoder_key("tiny", encoder)
    assert other != key and other.startswith("tiny-")
    _, report = load_text_features(encoder, tokenizer, TEXTS, **{**options, "encoder_key": other})
    assert report.n_new == 3


def test_a_cancel_of_the_feature_job_acts_within_one_batch(tiny_encoder_dir, tmp_path):
    """Issue 17 item 7: a cancel waited for the next 2,048-text chunk; item 8: an ETA."""

    class Cancelled(Exception):
        pass

    messages = []

    def progress(fraction: float, message: str = "") -> None:
        messages.append(message)
        raise Cancelled

    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    key = compute_encoder_key("tiny", encoder)
    texts = [f"caption number {i}" for i in range(12)]
    with pytest.raises(Cancelled):
        load_text_features(
            encoder,
            tokenizer,
            texts,
            encoder_key=key,
            cache_dir=tmp_path,
            batch_size=2,
            progress=progress,
        )
    assert messages[0].endswith(" left)") and "about " in messages[0]
    assert not list(tmp_path.rglob("shard-*.safetensors"))  # stopped before the chunk's end


def test_folds_are_stratified_and_seeded():
    labels = np.repeat(np.arange(7), [1, 2, 5, 10, 11, 3, 40])
    folds = frozen.compute_folds(labels, folds=5, seed=3)
    assert folds.min() >= 0 and folds.max() <= 4
    for c in range(7):
        counts = np.bincount(folds[labels == c], minlength=5)
        assert counts.max() - counts.min() <= 1, (c, counts)
    np.testing.assert_array_equal(folds, frozen.compute_folds(labels, folds=5, seed=3))
    assert not np.array_equal(folds, frozen.compute_folds(labels, folds=5, seed=4))


def test_hand_written_gradient_is_the_gradient_of_the_masked_bce():
    import torch

    torch.manual_seed(0)
    weight, bias = torch.randn(3, 7, 5), torch.randn(3, 7)  # (K, C, D), (K, C)
    xb, labels = torch.randn(11, 5), torch.randint(0, 7, (11,))
    mask = (torch.rand(11, 3) > 0.3).float()
    w, b = weight.clone().requires_grad_(), bias.clone().requires_grad_()
    logits = (xb @ w.reshape(-1, 5).T).view(-1, 3, 7) + b
    expected = (frozen._bce_one_hot(logits, labels) * mask).sum() / mask.sum()
    expected.backward()

    class NoStep:
        def step(self):
            pass

    loss = frozen._step(weight, bias, NoStep(), xb, labels, mask, with_loss=True)
    assert loss == pytest.approx(float(expected.detach()), rel=1e-6)
    torch.testing.assert_close(weight.grad, w.grad)
    torch.testing.assert_close(bias.grad, b.grad)


def _clusters(n_per_class=40, n_classes=4, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, dim)) * 3
    labels = np.repeat(np.arange(n_classes), n_per_class)
    features = (centers[labels] + rng.normal(size=(len(labels), dim))).astype(np.float32)
    return features, labels


def test_cross_fitted_heads_score_flipped_labels_out_of_sample():
    features, true = _clusters()
    rng = np.random.default_rng(1)
    flipped = rng.choice(len(true), size=12, replace=False)
    labels = true.copy()
    labels[flipped] = (true[flipped] + 1 + rng.integers(3, size=12)) % 4
    folds = frozen.compute_folds(labels, folds=4, seed=0)
    spec = FrozenHeadSpec(epochs=40, min_steps=0, learning_rate=5e-2, batch_size=32, folds=4)
    seen = []
    heads = frozen.train_cross_fitted_heads(
        features, labels, folds, n_classes=4, spec=spec, on_epoch=lambda e, m: seen.append(m)
    )
    assert heads.weight.shape == (4, 4, 16) and len(seen) == 40
    assert seen[-1]["test_loss"] < seen[0]["test_loss"]
    oos = frozen.compute_head_outputs(features, labels, heads, folds)
    is_flipped = np.zeros(len(labels), dtype=bool)
    is_flipped[flipped] = True
    assert oos["p_own"][is_flipped].max() < oos["p_own"][~is_flipped].min()
    assert (oos["suggested"][is_flipped] == true[is_flipped]).all()
    # the mean head trained on every flipped caption: in sample, it trusts them more
    mean = np.full(len(labels), frozen.MEAN_HEAD)
    in_sample = frozen.compute_head_outputs(features, labels, heads, mean)
    assert in_sample["p_own"][is_flipped].mean() > oos["p_own"][is_flipped].mean()


def test_frozen_training_records_one_version_and_reuses_every_feature(
    con, tmp_path, tiny_encoder_dir
):
    fill_relevance_db(con, per_class=12)
    progress = []
    spec = _frozen_spec(tmp_path, tiny_encoder_dir)
    result = run_train_relevance(con, spec, lambda f, m="": progress.append(f))
    assert result["mode"] == "frozen" and result["features"]["n_new"] > 0
    assert progress == sorted(progress) and progress[-1] == 1.0
    run = relevance_db.get_run(con, run_id=result["run_id"])
    assert run["mode"] == "frozen" and run["status"] == "finished"
    metrics = relevance_db.list_epoch_metrics(con, result["run_id"])
    assert metrics["epoch"].to_list() == list(range(1, 7))
    assert metrics["test_accuracy"][-1] == pytest.approx(result["best_test_accuracy"])
    versions = relevance_db.list_model_versions(con, run_id=result["run_id"])
    assert versions.height == 1 and versions["model_version"][0] == result["best_model_version"]
    assert relevance_db.get_default_model_version(con) == result["best_model_version"]
    meta = load_run_meta(spec.checkpoint_dir)
    assert meta["mode"] == "frozen" and meta["encoder_key"] == result["features"]["encoder_key"]
    other = _frozen_spec(tmp_path, tiny_encoder_dir, "second", epochs=3, learning_rate=1e-2)
    second = run_train_relevance(con, other)
    assert second["features"]["n_new"] == 0 and second["features"]["n_cached"] > 0
    with pytest.raises(ValueError, match="already holds finished frozen run"):
        run_train_relevance(con, spec)
    with pytest.raises(CheckpointMismatchError, match="frozen"):
        run_train_relevance(con, replace(spec, mode="finetune"))


def test_cancelled_frozen_run_records_no_model_version(con, tmp_path, tiny_encoder_dir):
    fill_relevance_db(con, per_class=8)
    finished = run_train_relevance(con, _frozen_spec(tmp_path, tiny_encoder_dir, "ok"))

    class Cancelled(Exception):
        pass

    def cancel_in_epoch_2(fraction, message=""):
        if message.startswith("head epoch 2/"):
            raise Cancelled

    spec = _frozen_spec(tmp_path, tiny_encoder_dir, "cancelled")
    with pytest.raises(Cancelled):
        run_train_relevance(con, spec, cancel_in_epoch_2)
    run = relevance_db.get_run(con, checkpoint_dir=str(tmp_path / "cancelled"))
    assert run["status"] == "stopped"
    assert relevance_db.list_model_versions(con, run_id=run["run_id"]).is_empty()
    assert relevance_db.get_default_model_version(con) == finished["best_model_version"]
    again = run_train_relevance(con, spec)  # the same folder starts over and finishes
    assert again["run_id"] == run["run_id"] and again["features"]["n_new"] == 0
    assert relevance_db.list_epoch_metrics(con, run["run_id"])["epoch"].to_list() == list(
        range(1, 7)
    )


def test_frozen_scores_are_out_of_sample_with_a_suggested_class(con, tmp_path, tiny_encoder_dir):
    fill_relevance_db(con, per_class=12)
    result = run_train_relevance(con, _frozen_spec(tmp_path, tiny_encoder_dir, epochs=15))
    version = result["best_model_version"]
    new_id = insert_caption(  # after training: in no fold, scored by the mean head
        con, "n01443537", "new.JPEG", "my goldfish photo", "orange bowl aquarium", ["pet"]
    )
    report = run_score_relevance(con, ScoringSpec(model_version=version))
    frame = scores_db.list_scored_captions(con, version)
    assert report["mode"] == "frozen" and report["n_scored"] == 49 == frame.height
    assert report["n_out_of_sample"] == 49 and frame["out_of_sample"].all()
    assert frame.filter(pl.col("caption_id") == new_id)["suggested_wnid"][0] == "n01443537"
    accuracy = (frame["suggested_wnid"] == frame["wnid"]).mean()
    assert accuracy > 0.8, accuracy  # 4 learnable classes, chance is 0.25
    # a training caption's score is its fold head's (held out), not the mean head's
    folds = pl.read_parquet(tmp_path / "frozen" / frozen.FOLDS_FILE)
    heads = frozen.load_frozen_heads(tmp_path / "frozen" / frozen.HEADS_FILE)
    trained = frame.join(folds, on="caption_id").sort("caption_id")
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    texts = compute_caption_texts(trained)
    x, _ = load_text_features(
        encoder,
        tokenizer,
        texts,
        encoder_key=result["features"]["encoder_key"],
        max_length=64,
        cache_dir=tmp_path,
    )
    labels = np.asarray([sorted(helpers.CLASS_TEXT).index(w) for w in trained["wnid"]])
    by_fold = frozen.compute_head_outputs(x, labels, heads, trained["fold"].to_numpy())
    np.testing.assert_allclose(trained["p_own"].to_numpy(), by_fold["p_own"], rtol=1e-5)
    by_mean = frozen.compute_head_outputs(x, labels, heads, np.full(len(labels), -1))
    assert np.abs(by_mean["p_own"] - by_fold["p_own"]).max() > 1e-3
    meta = load_run_meta(tmp_path / "frozen")
    save_run_meta(tmp_path / "frozen", {**meta, "encoder_key": "tiny-0000000000000000"})
    with pytest.raises(CheckpointMismatchError, match="weights changed"):
        run_score_relevance(con, ScoringSpec(model_version=version))


def test_feature_and_frozen_training_jobs_run_through_the_registry(con, tmp_path, tiny_encoder_dir):
    from db import jobs as job_db
    from jobs.worker import run_queued_jobs, submit_job

    fill_relevance_db(con, per_class=6)
    spec = _frozen_spec(tmp_path, tiny_encoder_dir)
    features = {"encoder": spec.encoder, "max_length": 64, "cache_dir": str(tmp_path)}
    feature_job = submit_job(con, kind="relevance-features", spec=features)
    train_job = submit_job(con, kind="relevance-train", spec=spec.to_dict())
    run_queued_jobs(con)
    first, second = job_db.get_job(con, feature_job), job_db.get_job(con, train_job)
    assert first["status"] == "succeeded" and first["result"]["n_new"] > 0, first["error"]
    assert second["status"] == "succeeded", second["error"]
    assert second["result"]["features"]["n_new"] == 0  # the feature job filled the cache
