"""The protocol with the real EfficientNet-Lite0 weights on real photos (slow)."""

from __future__ import annotations

import pytest

from tests.unit.eval_helpers import write_photo_folder

# Classes of foolbox's ImageNet photos (bull mastiff 243, folding chair 559).
MASTIFF, CHAIR = "n02108422", "n03376595"


@pytest.mark.slow
def test_trained_lite0_row_separates_real_photos(tmp_path):
    from curation.demo import build_demo_database
    from db.connect import connect
    from extension.evaluation.protocol import run_evaluation
    from extension.images.sets import register_image_set
    from extension.specs import EvalSpec

    photos = write_photo_folder(tmp_path / "photos")
    con = connect(tmp_path / "w.duckdb")
    try:
        build_demo_database(con)
        set_id = register_image_set(con, photos, name="photos")
        spec = EvalSpec(set_id, classes=(MASTIFF, CHAIR), n=20, n_bootstrap=100, min_positives=3)
        result = run_evaluation(con, spec, cache_dir=tmp_path / "cache")
    finally:
        con.close()
    for wnid in (MASTIFF, CHAIR):
        entry = result["classes"][wnid]
        assert entry["n_pos"] == 3 and entry["n_neg"] == 3
        # Real weights on real photos: the trained row ranks its photos first and wins the argmax.
        assert entry["methods"]["trained"]["auroc"]["value"] == pytest.approx(1.0)
        assert entry["methods"]["trained"]["f1@argmax"]["value"] > 0.5
        assert {"paper-cosine", "paper-euclidean"} <= set(entry["methods"])
