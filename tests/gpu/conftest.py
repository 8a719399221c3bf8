"""Device tests: they compare the CPU with `$TEST_DEVICE` (default 'cuda') and are skipped,
with that reason, where no CUDA device exists. `TEST_DEVICE=cuda make test` runs them."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def gpu_device() -> str:
    import torch

    device = os.environ.get("TEST_DEVICE", "cuda")
    if not device.startswith("cuda") or not torch.cuda.is_available():
        pytest.skip(
            f"device tests need CUDA (TEST_DEVICE={device!r}, CUDA available: "
            f"{torch.cuda.is_available()})"
        )
    return device


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/gpu/" in str(item.fspath):
            item.add_marker(pytest.mark.gpu)
