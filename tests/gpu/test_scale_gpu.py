"""The Ray engine on a GPU: 'auto' gives the actor a GPU, and its features equal the local
engine's on the CPU (the tolerance of `test_device_parity`)."""

from __future__ import annotations

import pytest
import torch

from contract.vectors import VectorStore
from extension.images.store import embed_files, embed_files_on_ray
from extension.models import load_base_model
from scale.cluster import connect_ray
from tests.extension_helpers import TINY_MODEL, write_images
from tests.scale_helpers import OBJECT_STORE_BYTES, RAY_CPUS


def test_ray_gpu_actor_gives_the_cpu_features(gpu_device, tmp_path):
    pytest.importorskip("ray", reason="the Ray engine needs the 'scale' extra")
    images = write_images(tmp_path / "images", ["n01440764", "n01443537"], per_class=4)
    paths = sorted(images.rglob("*.png"))
    model = load_base_model(TINY_MODEL)
    local = VectorStore(tmp_path / "local")
    embed_files(model, paths, local, device="cpu", chunk_size=4)
    on_ray = VectorStore(tmp_path / "ray")
    with connect_ray("", num_cpus=RAY_CPUS, object_store_memory=OBJECT_STORE_BYTES):
        report = embed_files_on_ray(model, paths, on_ray, device="auto", chunk_size=4)
    assert report.engine["device"] == "cuda" and report.engine["gpus_per_actor"] == 1.0
    digests = sorted(local.known())
    assert sorted(on_ray.known()) == digests
    torch.testing.assert_close(on_ray.get(digests), local.get(digests), atol=1e-4, rtol=1e-4)
