"""`workbench relevance ...`: build the dataset, train, score, review decisions, export."""

from __future__ import annotations

import argparse
import json

from cli.common import add_actor_option, add_db_option, open_database, print_progress, resolve_actor


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "relevance", help="caption relevance: dataset, training, scoring, decisions, export"
    )
    actions = parser.add_subparsers(dest="relevance_action", required=True)
    _add_dataset_options(_action(actions, "build-dataset", "show the training set's sizes"))
    train = _action(actions, "train", "train (or resume) a relevance model")
    _add_dataset_options(train)
    _add_train_options(train)
    score = _action(actions, "score", "score captions with a model version")
    score.add_argument(
        "--model-version",
        type=int,
        default=None,
        help="checkpoint to use (default: the best of the newest run)",
    )
    score.add_argument("--wnids", nargs="*", default=[], help="only these classes")
    score.add_argument(
        "--batch-size", type=int, default=0, help="0 = automatic: 128 on CUDA, 32 on the CPU"
    )
    score.add_argument("--max-length", type=int, default=128)
    score.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    _action(actions, "list", "list training runs and model versions")
    decide = _action(actions, "decide", "keep or drop a caption by hand (or clear)")
    decide.add_argument("caption_id", type=int)
    decide.add_argument("decision", choices=["keep", "drop", "clear"])
    decide.add_argument("--reason", required=True)
    add_actor_option(decide)
    threshold = _action(actions, "threshold", "set (or clear) a class's own threshold")
    threshold.add_argument("wnid")
    threshold.add_argument("value", help="a number in [0, 1], or 'clear'")
    threshold.add_argument("--reason", required=True)
    add_actor_option(threshold)
    export = _action(actions, "export", "write the curated parquet + dataset card")
    export.add_argument("--model-version", type=int, required=True)
    export.add_argument("--out", required=True, help="output folder")
    export.add_argument("--kept-only", action="store_true")
    tiny = _action(
        actions,
        "tiny-encoder",
        "make a small random RoBERTa + BPE tokenizer "
        "trained on this database's text (quick CPU runs)",
    )
    tiny.add_argument("out_dir")
    tiny.add_argument("--hidden-size", type=int, default=64)
    tiny.add_argument("--layers", type=int, default=2)


def _action(actions, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, help=help_text)
    add_db_option(parser)
    parser.set_defaults(handler=handle)
    return parser


def _add_dataset_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-classes", type=int, default=0, help="first N classes (0 = all)")
    parser.add_argument("--classes", nargs="*", default=[], help="only these wnids")
    parser.add_argument("--max-sentences", type=int, default=10)


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    from curation.relevance.specs import OFFLINE_ENCODER

    parser.add_argument(
        "--checkpoint-dir", required=True, help="run folder; training again into it resumes"
    )
    parser.add_argument("--name", default="relevance")
    parser.add_argument(
        "--encoder",
        default=OFFLINE_ENCODER,
        help="HF name (e.g. roberta-base), local path, or " + OFFLINE_ENCODER,
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5, help="encoder learning rate")
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--freeze-encoder", action="store_true", help="train only the head")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])


def _dataset_spec(args):
    from curation.relevance.specs import DatasetSpec

    return DatasetSpec(
        seed=args.seed,
        max_classes=args.max_classes,
        wnids=tuple(args.classes),
        max_sentences=args.max_sentences,
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


def _handle_train(con, args) -> int:
    from curation.relevance.dataset import build_relevance_dataset
    from curation.relevance.specs import TrainSpec
    from curation.relevance.train import train_relevance_model

    spec = TrainSpec(
        checkpoint_dir=args.checkpoint_dir,
        name=args.name,
        encoder=args.encoder,
        dataset=_dataset_spec(args),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        head_learning_rate=args.head_lr,
        max_length=args.max_length,
        patience=args.patience,
        train_encoder=not args.freeze_encoder,
        device=args.device,
        precision=args.precision,
    )
    dataset = build_relevance_dataset(con, spec.dataset)
    print(json.dumps(dataset.report, indent=2))
    result = train_relevance_model(con, spec, dataset, progress=print_progress)
    print(json.dumps({k: v for k, v in result.items() if k != "dataset"}, indent=2))
    return 0


def _handle_score(con, args) -> int:
    from curation.relevance.score import run_score_relevance
    from curation.relevance.specs import ScoringSpec
    from db import relevance as relevance_db

    version = args.model_version
    if version is None:
        version = relevance_db.get_default_model_version(con)
        if version is None:
            raise ValueError("no model version yet: run `workbench relevance train` first")
    spec = ScoringSpec(
        model_version=version,
        wnids=tuple(args.wnids),
        batch_size=args.batch_size,
        max_length=args.max_length,
        device=args.device,
    )
    print(json.dumps(run_score_relevance(con, spec, print_progress), indent=2))
    return 0


def _handle_list(con, args) -> int:
    from db import relevance as relevance_db

    print(relevance_db.list_runs(con).drop("checkpoint_dir"))
    print(
        relevance_db.list_model_versions(con).select(
            "model_version", "run_id", "epoch", "test_loss", "test_accuracy", "pruned", "n_scores"
        )
    )
    return 0


def _handle_decide(con, args) -> int:
    from curation.relevance.decisions import update_decision

    decision = None if args.decision == "clear" else args.decision
    change = update_decision(
        con, args.caption_id, decision=decision, reason=args.reason, actor=resolve_actor(args.actor)
    )
    print(change.describe())
    return 0


def _handle_threshold(con, args) -> int:
    from curation.relevance.decisions import update_class_threshold

    value = None if args.value == "clear" else float(args.value)
    update_class_threshold(
        con, args.wnid, threshold=value, reason=args.reason, actor=resolve_actor(args.actor)
    )
    print(f"{args.wnid}: threshold {'global' if value is None else value}")
    return 0


def _handle_export(con, args) -> int:
    from curation.relevance.export import export_curated_set

    result = export_curated_set(
        con, model_version=args.model_version, out_dir=args.out, kept_only=args.kept_only
    )
    print(json.dumps(result, indent=2))
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
    "train": _handle_train,
    "score": _handle_score,
    "list": _handle_list,
    "decide": _handle_decide,
    "threshold": _handle_threshold,
    "export": _handle_export,
    "tiny-encoder": _handle_tiny_encoder,
}
