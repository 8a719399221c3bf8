"""Every CLI option that sets a job-spec field opens on that field's own default: a spec is
the single source of its defaults (issue 18), so changing one in the spec changes the CLI."""

from __future__ import annotations

import dataclasses

import pytest

from cli.main import build_parser
from curation.relevance.specs import (
    DatasetSpec,
    FeatureSpec,
    FrozenHeadSpec,
    ScoringSpec,
    TrainSpec,
)
from curation.search import CaptionFeatureSpec
from extension.specs import EmbedSpec, EvalSpec, FewShotSpec, TextEmbeddingSpec
from scale.specs import ActorPoolSpec, EngineSpec

TRAIN = TrainSpec(checkpoint_dir="-")
# (command line, option dest, the spec default it must show)
CASES = [
    ("relevance train", "folds", FrozenHeadSpec().folds),
    ("relevance train", "head_lr", TRAIN.head_learning_rate),
    ("relevance train", "patience", TRAIN.patience),
    ("relevance train", "max_length", TRAIN.max_length),
    ("relevance train", "precision", TRAIN.precision),
    ("relevance train", "mode", TRAIN.mode),
    ("relevance train", "encoder", TRAIN.encoder),
    ("relevance train", "feature_batch_size", FeatureSpec().batch_size),
    ("relevance train", "max_sentences", DatasetSpec().max_sentences),
    ("relevance score", "batch_size", ScoringSpec(model_version=1).batch_size),
    ("relevance score", "engine", EngineSpec().name),
    ("relevance score", "ray_actors", ActorPoolSpec().actors),
    ("captions features", "batch_size", CaptionFeatureSpec().batch_size),
    ("text-embeddings", "batch_size", TextEmbeddingSpec().batch_size),
    ("image-sets list", "chunk_size", EmbedSpec(1).chunk_size),
    ("evaluate --images x", "bootstrap", EvalSpec(1).n_bootstrap),
    ("evaluate --images x", "min_positives", EvalSpec(1).min_positives),
    ("fewshot --images x", "steps", FewShotSpec(1).steps),
]


@pytest.mark.parametrize(("command", "dest", "expected"), CASES)
def test_cli_option_opens_on_the_spec_default(command, dest, expected):
    args = build_parser().parse_args(command.split())
    assert getattr(args, dest) == expected


def test_a_changed_spec_default_changes_the_cli(monkeypatch):
    fields = {f.name: f for f in dataclasses.fields(FrozenHeadSpec)}
    monkeypatch.setattr(fields["folds"], "default", 7)
    assert build_parser().parse_args(["relevance", "train"]).folds == 7
