"""The same numbers on the CPU and on CUDA: synthesized rows, image features, relevance."""

from __future__ import annotations

import pytest
import torch

import tests.relevance_helpers as helpers
from curation.relevance.score import run_score_relevance
from curation.relevance.specs import ScoringSpec
from curation.relevance.train import run_train_relevance
from extension.images.store import load_features
from extension.models import compute_model_key, load_base_model
from extension.synthesis.methods import SynthesisInputs, compute_rows, list_methods, resolve_method
from tests.extension_helpers import TINY_MODEL, write_images
from tests.relevance_helpers import fill_relevance_db

tiny_encoder_dir = helpers.tiny_encoder_dir  # fixture


def test_cpu_and_cuda_give_the_same_rows(gpu_device):
    torch.manual_seed(0)
    xs = torch.rand(50, 20, dtype=torch.float64)
    ws, bs = torch.randn(50, 16, dtype=torch.float64), torch.randn(50, dtype=torch.float64)
    gram = xs @ xs.T
    for name in list_methods():
        spec = resolve_method(name)
        args = (gram, torch.diagonal(gram), gram, ws, bs, torch.arange(50))
        inputs = SynthesisInputs(*args, features=spec.features)
        cpu = compute_rows(inputs, spec, device="cpu")
        gpu = compute_rows(inputs, spec, device=gpu_device)
        torch.testing.assert_close(cpu[0], gpu[0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(cpu[1], gpu[1], atol=1e-4, rtol=1e-4)


def test_cpu_and_cuda_give_the_same_image_features(gpu_device, tmp_path):
    images = write_images(tmp_path / "images", ["n01440764", "n01443537"], per_class=4)
    paths = sorted(images.rglob("*.png"))
    model = load_base_model(TINY_MODEL)
    key = compute_model_key(model)
    cpu, _, _ = load_features(model, paths, model_key=key, cache_dir=tmp_path / "cpu")
    gpu, _, _ = load_features(
        model, paths, model_key=key, cache_dir=tmp_path / "gpu", device=gpu_device
    )
    torch.testing.assert_close(cpu, gpu, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_training_and_scoring_on_cuda(con, tmp_path, tiny_encoder_dir, gpu_device, precision):
    fill_relevance_db(con, per_class=8)
    spec = helpers.finetune_spec(
        tmp_path / "run", tiny_encoder_dir, device=gpu_device, precision=precision
    )
    result = run_train_relevance(con, spec)
    assert result["epochs_done"] == 2
    report = run_score_relevance(
        con, ScoringSpec(model_version=result["best_model_version"], device=gpu_device)
    )
    assert report["n_scored"] == 32
