"""Every job spec survives its JSON round trip field by field, and bad JSON gets one clear line.

Each spec class has an example below whose every field differs from the field's default, so
a field that `to_dict` drops or `from_dict` ignores changes the example and fails the test.
A new spec class without an example fails `test_every_spec_class_has_an_example`.
"""

from __future__ import annotations

import dataclasses

import pytest

import jobs.kinds
from contract.specs import list_spec_classes
from curation.captions import IngestCaptionsSpec
from curation.projection import ProjectionSpec
from curation.relevance.specs import (
    CaptionFilter,
    DatasetSpec,
    FeatureSpec,
    FrozenHeadSpec,
    ScoringSpec,
    TrainSpec,
)
from curation.search import CaptionFeatureSpec
from extension.specs import (
    AddClassSpec,
    EmbedSpec,
    EvalSpec,
    ExportSpec,
    FewShotSpec,
    KeepClassSpec,
    LooSpec,
    ModelSpec,
    PhotoCheckSpec,
    SynthesisSpec,
    TextEmbeddingSpec,
    TextStatsSpec,
)
from scale.specs import ActorPoolSpec, EngineSpec

POOL = ActorPoolSpec(actors=3, cpus_per_actor=2.0, gpus_per_actor=0.5)
MODEL = ModelSpec(
    name="test_efficientnet", pretrained=False, weights_path="w.safetensors", num_classes=10
)
METHOD = SynthesisSpec(
    "topk",
    "euclidean",
    (("k", 3), ("weighting", "inverse")),
    "sqrt-idf",
    "zscore",
    (("z", 2.0),),
)
DATASET = DatasetSpec(
    seed=3,
    test_fraction=0.3,
    min_sentences=1,
    max_sentences=4,
    min_words=3,
    wnids=("n01440764",),
    max_classes=2,
    source="mine",
    use_curation=False,
)
HEAD = FrozenHeadSpec(
    epochs=7,
    min_steps=5,
    learning_rate=0.5,
    weight_decay=0.1,
    batch_size=8,
    folds=3,
    feature_batch_size=4,
    cache_dir="c",
)

EXAMPLES = {
    ModelSpec: MODEL,
    SynthesisSpec: METHOD,
    TextStatsSpec: TextStatsSpec(force=True),
    TextEmbeddingSpec: TextEmbeddingSpec(encoder="enc", device="cpu", batch_size=8),
    LooSpec: LooSpec(
        methods=(METHOD,),
        classes=("n01440764",),
        images_dir="imgs",
        model=MODEL,
        device="cpu",
        max_images_per_class=2,
        calibration_images_dir="calib",
        text_encoder="enc",
    ),
    AddClassSpec: AddClassSpec(
        class_id="custom-x",
        name="x",
        description="an x",
        texts=("y",),
        methods=(METHOD, METHOD),
        model=MODEL,
        device="cpu",
        actor="ana",
        calibration_set_id=4,
        text_encoder="enc",
    ),
    KeepClassSpec: KeepClassSpec(wnid="custom-x", primary_method="paper-cosine", actor="ana"),
    PhotoCheckSpec: PhotoCheckSpec(
        wnid="custom-x", paths=("a.jpg",), k=3, model=MODEL, device="cpu"
    ),
    ExportSpec: ExportSpec(out_dir="out", model=MODEL, wnids=("custom-x",)),
    EmbedSpec: EmbedSpec(
        7,
        model=MODEL,
        device="cpu",
        batch_size=8,
        chunk_size=16,
        engine=EngineSpec("ray", "ray://head:10001", POOL),
    ),
    ActorPoolSpec: POOL,
    EngineSpec: EngineSpec("ray", "auto", POOL),
    EvalSpec: EvalSpec(
        3,
        classes=("n01440764",),
        methods=(METHOD,),
        n=5,
        balanced=False,
        seed=4,
        negative_sets=(5,),
        n_bootstrap=9,
        confidence=0.9,
        model=MODEL,
        device="cpu",
        name="run",
        min_positives=2,
    ),
    FewShotSpec: FewShotSpec(
        3,
        classes=("n01440764",),
        shots=(2,),
        init_methods=(METHOD,),
        repeats=2,
        steps=5,
        lr=0.1,
        weight_decay=0.5,
        n=6,
        seed=2,
        model=MODEL,
        device="cpu",
    ),
    DatasetSpec: DATASET,
    FrozenHeadSpec: HEAD,
    FeatureSpec: FeatureSpec(
        encoder="enc",
        dataset=DATASET,
        max_length=32,
        batch_size=4,
        device="cpu",
        cache_dir="c",
        engine=EngineSpec("ray", "auto", POOL),
    ),
    CaptionFilter: CaptionFilter(
        model_version=3,
        wnid="n01440764",
        source="mine",
        search="dsc",
        p_min=0.1,
        p_max=0.4,
        suggested_other=True,
        decision="drop",
        caption_ids=(1, 2),
    ),
    ProjectionSpec: ProjectionSpec(
        encoder_key="enc-0123",
        wnids=("n01440764", "n01443537"),
        max_points=500,
        seed=3,
        n_neighbors=8,
        min_dist=0.3,
        max_length=32,
        cache_dir="c",
    ),
    CaptionFeatureSpec: CaptionFeatureSpec(
        encoder="enc", max_length=32, batch_size=4, device="cpu", cache_dir="c"
    ),
    TrainSpec: TrainSpec(
        checkpoint_dir="ckpt",
        name="n",
        mode="frozen",
        head=HEAD,
        encoder="enc",
        dataset=DATASET,
        epochs=2,
        batch_size=4,
        learning_rate=1e-4,
        head_learning_rate=1e-2,
        weight_decay=0.1,
        max_length=32,
        epoch_fraction=0.5,
        patience=1,
        keep_checkpoints=1,
        train_encoder=False,
        dropout=0.1,
        seed=5,
        device="cpu",
        precision="fp32",
        eval_batch_size=16,
    ),
    ScoringSpec: ScoringSpec(
        model_version=2,
        wnids=("n01440764",),
        batch_size=4,
        max_length=32,
        min_words=3,
        device="cpu",
        precision="fp32",
        source="mine",
        engine=EngineSpec("ray", "10.0.0.5:6379", POOL),
    ),
    IngestCaptionsSpec: IngestCaptionsSpec(
        path="c.json", source="mine", display_name="c.json", remove_file_after=True
    ),
    jobs.kinds.NoopSpec: jobs.kinds.NoopSpec(steps=2, sleep_s=0.5),
}


def test_every_spec_class_has_an_example():
    project = {"contract", "curation", "extension", "jobs", "db", "ui", "cli", "scale"}
    shipped = [c for c in list_spec_classes() if c.__module__.split(".")[0] in project]
    assert set(shipped) <= set(EXAMPLES), sorted(c.__name__ for c in set(shipped) - set(EXAMPLES))


@pytest.mark.parametrize("cls", list(EXAMPLES), ids=lambda c: c.__name__)
def test_round_trip_keeps_every_field(cls):
    example = EXAMPLES[cls]
    for field in dataclasses.fields(cls):
        if field.default is not dataclasses.MISSING:
            assert getattr(example, field.name) != field.default, f"{cls.__name__}.{field.name}"
        elif field.default_factory is not dataclasses.MISSING:
            assert getattr(example, field.name) != field.default_factory(), field.name
    data = example.to_dict()
    assert set(data) == {f.name for f in dataclasses.fields(cls)}
    assert cls.from_json(example.to_json()) == example
    assert cls.from_dict(data) == example
    assert cls.from_json(example.to_json()).to_json() == example.to_json()


def test_bad_json_is_one_clear_line():
    with pytest.raises(ValueError, match=r"EvalSpec.n: expected int, got 'many'"):
        EvalSpec.from_dict({"image_set_id": 1, "n": "many"})
    with pytest.raises(ValueError, match=r"EvalSpec: unknown fields \['nn'\]"):
        EvalSpec.from_dict({"image_set_id": 1, "nn": 3})
    with pytest.raises(ValueError, match=r"LooSpec.methods\[0\]: expected an object"):
        LooSpec.from_dict({"methods": ["paper"]})
    with pytest.raises(ValueError, match="missing 1 required"):
        EmbedSpec.from_dict({})
    with pytest.raises(ValueError, match="not JSON"):
        EmbedSpec.from_json("{oops")
    with pytest.raises(ValueError, match="device must be one of"):
        ScoringSpec.from_dict({"model_version": 1, "device": "tpu"})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"folds": 1}, "folds must be between 2 and 20"),
        ({"folds": 21}, "folds must be between 2 and 20"),
        ({"learning_rate": 0.0}, "learning_rate > 0"),
        ({"weight_decay": -0.1}, "weight_decay >= 0"),
    ],
)
def test_frozen_head_refuses_bad_folds_and_optimizer_settings(fields, message):
    with pytest.raises(ValueError, match=message):
        FrozenHeadSpec(**fields)
    assert FrozenHeadSpec(folds=2).folds == 2


def test_a_job_stored_with_the_flat_engine_fields_still_opens():
    """Jobs queued before the engine was one nested spec stored `engine` as a name beside
    `ray_address` and `ray_pool`: they load into today's layout."""
    pool = {"actors": 3, "cpus_per_actor": 2.0, "gpus_per_actor": 0.5}
    old = {"image_set_id": 7, "engine": "ray", "ray_address": "auto", "ray_pool": pool}
    assert EmbedSpec.from_dict(old).engine == EngineSpec("ray", "auto", POOL)
    assert FeatureSpec.from_dict({"engine": "local"}).engine == EngineSpec()
    assert ScoringSpec.from_dict({"model_version": 1, "ray_address": "auto"}).engine.address == (
        "auto"
    )
    with pytest.raises(ValueError, match="engine must be one of"):
        EmbedSpec.from_dict({"image_set_id": 7, "engine": "spark"})


def test_spec_defaults_come_from_the_spec_itself():
    from contract.specs import get_spec_default

    assert get_spec_default(FrozenHeadSpec, "folds") == FrozenHeadSpec().folds
    assert get_spec_default(EmbedSpec, "engine") == EngineSpec()
    with pytest.raises(ValueError, match="has no default"):
        get_spec_default(EmbedSpec, "image_set_id")
    with pytest.raises(ValueError, match="has no field 'nope'"):
        get_spec_default(EmbedSpec, "nope")
