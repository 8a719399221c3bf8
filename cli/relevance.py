"""`workbench relevance ...`: build the dataset, compute features, train (frozen or fine-tune),
score. Review commands (decide, bulk, threshold, wrong, export) are in `cli.relevance_review`."""

from __future__ import annotations

import argparse
import json
import sys

from cli import relevance_review
from cli.common import (
    add_command,
    add_device_option,
    add_engine_options,
    add_spec_option,
    engine_fields,
    open_database,
    print_progress,
)
from contract.specs import get_spec_default
from curation.relevance.specs import (
    MODES,
    PRECISIONS,
    DatasetSpec,
    FeatureSpec,
    FrozenHeadSpec,
    ScoringSpec,
    TrainSpec,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "relevance", help="caption relevance: dataset, training, scoring, decisions, export"
    )
    actions = parser.add_subparsers(dest="relevance_action", required=True)
    _add_dataset_options(_action(actions, "build-dataset", "show the training set's sizes"))
    features = _action(
        actions, "features", "compute (or find cached) frozen-encoder features of the dataset"
    )
    _add_dataset_options(features)
    _add_feature_options(features)
    add_engine_options(features)
    train = _action(actions, "train", "train a relevance model (frozen or fine-tune mode)")
    _add_dataset_options(train)
    _add_train_options(train)
    _add_feature_options(train)
    score = _action(actions, "score", "score captions with a model version")
    score.add_argument(
        "--model-version",
        type=int,
        default=None,
        help="checkpoint to use (default: the best of the newest run)",
    )
    score.add_argument("--wnids", nargs="*", default=[], help="only these classes")
    score.add_argument("--source", default=None, help="only this caption source (default: all)")
    add_spec_option(
        score,
        "--batch-size",
        ScoringSpec,
        "batch_size",
        "0 = automatic: 128 on CUDA, 32 on the CPU",
    )
    add_spec_option(score, "--max-length", ScoringSpec, "max_length", "tokens per caption")
    add_device_option(score, ScoringSpec)
    add_engine_options(score)  # where a frozen model's caption features are computed
    _action(actions, "list", "list training runs and model versions")
    relevance_review.add_actions(actions, _action)
    tiny = _action(
        actions,
        "tiny-encoder",
        "make a small random RoBERTa + BPE tokenizer "
        "trained on this database's text (quick CPU runs)",
    )
    tiny.add_argument("out_dir")
    tiny.add_argument("--hidden-size", type=int, default=64)
    tiny.add_argument("--layers", type=int, default=2)


def _action(actions, name: str, help_text: str, handler=None) -> argparse.ArgumentParser:
    return add_command(actions, name, help_text, handler or handle)


def _add_dataset_options(parser: argparse.ArgumentParser) -> None:
    add_spec_option(parser, "--seed", DatasetSpec, "seed", "of the train/test split")
    add_spec_option(
        parser, "--max-classes", DatasetSpec, "max_classes", "first N classes (0 = all)"
    )
    parser.add_argument("--classes", nargs="*", default=[], help="only these wnids")
    add_spec_option(
        parser, "--max-sentences", DatasetSpec, "max_sentences", "description sentences per class"
    )
    parser.add_argument("--source", default=None, help="only this caption source (default: all)")


def _add_feature_options(parser: argparse.ArgumentParser) -> None:
    if not any(a.dest == "encoder" for a in parser._actions):
        add_spec_option(parser, "--encoder", FeatureSpec, "encoder", "as for train")
        add_spec_option(parser, "--max-length", FeatureSpec, "max_length", "tokens per text")
        add_device_option(parser, FeatureSpec)
    add_spec_option(parser, "--feature-batch-size", FeatureSpec, "batch_size", "texts per pass")
    parser.add_argument(
        "--cache-dir",
        default="",
        help="feature cache folder (default: text-features/ in the storage root's cache)",
    )


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    from encoders.registry import OFFLINE_ENCODER

    add_spec_option(
        parser,
        "--mode",
        TrainSpec,
        "mode",
        "frozen: a head on cached encoder features, cross-fitted (minutes on a CPU for every "
        "class); finetune: the whole encoder (for a GPU); auto: frozen on a CPU, finetune on CUDA",
        choices=MODES,
    )
    parser.add_argument(
        "--checkpoint-dir",
        default=None,
        help="run folder (default: a new one under the storage root's relevance/); training "
        "a fine-tune run again into it resumes",
    )
    add_spec_option(parser, "--name", TrainSpec, "name", "the run's name")
    add_spec_option(
        parser,
        "--encoder",
        TrainSpec,
        "encoder",
        "HF name (e.g. roberta-base), local path, or " + OFFLINE_ENCODER,
    )
    for flag, name, type_, what in (
        ("--epochs", "epochs", int, ""),
        ("--batch-size", "batch_size", int, ""),
        ("--lr", "learning_rate", float, "frozen: the head's; fine-tune: the encoder's; "),
        ("--weight-decay", "weight_decay", float, ""),
    ):
        frozen, finetune = get_spec_default(FrozenHeadSpec, name), get_spec_default(TrainSpec, name)
        parser.add_argument(
            flag,
            type=type_,
            default=None,
            help=f"{what}default {frozen} (frozen), {finetune} (fine-tune)",
        )
    add_spec_option(parser, "--folds", FrozenHeadSpec, "folds", "frozen: cross-fitting folds")
    add_spec_option(parser, "--head-lr", TrainSpec, "head_learning_rate", "fine-tune: the head's")
    add_spec_option(parser, "--max-length", TrainSpec, "max_length", "tokens per input")
    add_spec_option(parser, "--patience", TrainSpec, "patience", "epochs without a better test")
    parser.add_argument("--freeze-encoder", action="store_true", help="train only the head")
    add_device_option(parser, TrainSpec)
    add_spec_option(parser, "--precision", TrainSpec, "precision", "", choices=PRECISIONS)


def _dataset_spec(args):
    return DatasetSpec(
        seed=args.seed,
        max_classes=args.max_classes,
        wnids=tuple(args.classes),
        max_sentences=args.max_sentences,
        source=args.source,
    )


def handle(args: argparse.Namespace) -> int:
    with open_database(args.db) as con:
        return _HANDLERS[args.relevance_action](con, args)


def _handle_build_dataset(con, args) -> int:
    from curation.relevance.dataset import build_relevance_dataset

    dataset = build_relevance_dataset(con, _dataset_spec(args))
    print(json.dumps(dataset.report, indent=2))
    print(dataset.per_class)
    return 0


def _handle_features(con, args) -> int:
    from curation.relevance.features import run_compute_relevance_features

    spec = FeatureSpec(
        encoder=args.encoder,
        dataset=_dataset_spec(args),
        max_length=args.max_length,
        batch_size=args.feature_batch_size,
        device=args.device,
        cache_dir=args.cache_dir,
        **engine_fields(args),
    )
    print(json.dumps(run_compute_relevance_features(con, spec, print_progress), indent=2))
    return 0


def _train_spec(con, args):
    """The TrainSpec of the options: --epochs/--lr/--batch-size/--weight-decay go to the
    mode that runs (frozen: the head's; finetune: the encoder's)."""
    from dataclasses import replace

    from contract.devices import resolve_device
    from curation.relevance.checkpoint import make_run_dir
    from curation.relevance.specs import resolve_mode
    from db.storage import get_storage

    mode = resolve_mode(args.mode, resolve_device(args.device))
    given = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "weight_decay": args.weight_decay,
    }
    given = {k: v for k, v in given.items() if v is not None}
    head = FrozenHeadSpec(
        folds=args.folds, feature_batch_size=args.feature_batch_size, cache_dir=args.cache_dir
    )
    spec = TrainSpec(
        checkpoint_dir=str(
            args.checkpoint_dir or make_run_dir(args.name, mode, root=get_storage(con).relevance)
        ),
        name=args.name,
        mode=mode,
        head=replace(head, **given) if mode == "frozen" else head,
        encoder=args.encoder,
        dataset=_dataset_spec(args),
        head_learning_rate=args.head_lr,
        max_length=args.max_length,
        patience=args.patience,
        train_encoder=not args.freeze_encoder,
        device=args.device,
        precision=args.precision,
    )
    return replace(spec, **given) if mode == "finetune" else spec


def _handle_train(con, args) -> int:
    from curation.relevance.dataset import build_relevance_dataset
    from curation.relevance.train import train_relevance_model

    spec = _train_spec(con, args)
    dataset = build_relevance_dataset(con, spec.dataset)
    print(json.dumps(dataset.report, indent=2))
    print(f"mode {spec.mode}, run folder {spec.checkpoint_dir}", file=sys.stderr)
    result = train_relevance_model(con, spec, dataset, progress=print_progress)
    print(json.dumps({k: v for k, v in result.items() if k != "dataset"}, indent=2))
    return 0


def _handle_score(con, args) -> int:
    from curation.relevance.score import run_score_relevance
    from db import relevance as relevance_db

    version = args.model_version
    if version is None:
        version = relevance_db.get_default_model_version(con)
        if version is None:
            raise ValueError("no model version yet: run `workbench relevance train` first")
    spec = ScoringSpec(
        model_version=version,
        wnids=tuple(args.wnids),
        source=args.source,
        batch_size=args.batch_size,
        max_length=args.max_length,
        device=args.device,
        **engine_fields(args),
    )
    print(json.dumps(run_score_relevance(con, spec, print_progress), indent=2))
    return 0


def _handle_list(con, args) -> int:
    from db import relevance as relevance_db

    print(relevance_db.list_runs(con).drop("checkpoint_dir"))
    print(
        relevance_db.list_model_versions(con).select(
            "model_version",
            "run_id",
            "mode",
            "run_status",
            "epoch",
            "test_loss",
            "test_accuracy",
            "pruned",
            "n_scores",
        )
    )
    return 0


def _handle_tiny_encoder(con, args) -> int:
    from curation.relevance.dataset import compute_caption_texts
    from curation.relevance.tiny import build_tiny_encoder
    from db import relevance as relevance_db

    texts = compute_caption_texts(relevance_db.list_caption_records(con))
    texts += relevance_db.list_active_description_texts(con)["text"].to_list()
    if not texts:
        raise ValueError("the database has no captions or descriptions to learn a vocabulary from")
    out = build_tiny_encoder(
        args.out_dir,
        texts,
        hidden_size=args.hidden_size,
        num_layers=args.layers,
        num_heads=max(1, args.hidden_size // 32),
    )
    print(f"tiny encoder in {out}: train with --encoder {out}")
    return 0


_HANDLERS = {
    "build-dataset": _handle_build_dataset,
    "features": _handle_features,
    "train": _handle_train,
    "score": _handle_score,
    "list": _handle_list,
    "tiny-encoder": _handle_tiny_encoder,
}
