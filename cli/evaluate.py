"""`workbench image-sets`, `evaluate`, `fewshot`: the evaluation dashboards, headless.

`evaluate --json` prints the run summary the Evaluation page reads (same numbers).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli.common import (
    add_command,
    add_device_option,
    add_engine_options,
    add_spec_option,
    engine_fields,
    open_database,
    print_progress,
    resolve_actor,
)
from extension.specs import (
    DEFAULT_SHOTS,
    PAPER_CLASSES,
    EmbedSpec,
    EvalSpec,
    FewShotSpec,
    ModelSpec,
)

DEFAULT_METHOD_NAMES = "paper-cosine,paper-euclidean"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sets = add_command(
        subparsers,
        "image-sets",
        "register, embed and list image sets for evaluation",
        handle_image_sets,
    )
    _add_common(sets)
    sets.add_argument("action", choices=["add", "embed", "list", "errors"])
    sets.add_argument(
        "source",
        nargs="?",
        help="add: a <wnid>/*.jpg folder or a 'path<TAB>wnid' list file; "
        "embed/errors: a set name or id",
    )
    sets.add_argument("--name", help="add: the set's name (default: the folder or file name)")
    sets.add_argument("--actor", default=None)
    add_spec_option(sets, "--batch-size", EmbedSpec, "batch_size", "embed: images per pass")
    add_spec_option(
        sets, "--chunk-size", EmbedSpec, "chunk_size", "embed: images per cache shard and Ray call"
    )
    add_engine_options(sets)

    evaluate = add_command(
        subparsers, "evaluate", "the paper's protocol: trained vs synthesized rows", handle_evaluate
    )
    _add_common(evaluate)
    _add_images(evaluate)
    evaluate.add_argument(
        "--methods",
        default=DEFAULT_METHOD_NAMES,
        help=f"synthesis presets, comma-separated (default {DEFAULT_METHOD_NAMES}; "
        "`workbench loo --list-methods` lists them)",
    )
    add_spec_option(evaluate, "--n", EvalSpec, "n", "positives and negatives per class (capped)")
    evaluate.add_argument(
        "--negatives",
        default="",
        help="extra image folders/sets used as negatives, comma-separated",
    )
    add_spec_option(
        evaluate, "--bootstrap", EvalSpec, "n_bootstrap", "bootstrap replicates for the intervals"
    )
    add_spec_option(evaluate, "--name", EvalSpec, "name", "a label for the run")
    add_spec_option(
        evaluate,
        "--min-positives",
        EvalSpec,
        "min_positives",
        "classes with fewer images get only a pooled one-vs-rest AUROC",
    )

    fewshot = add_command(
        subparsers, "fewshot", "few-shot baseline: k-shot rows trained with Adam", handle_fewshot
    )
    _add_common(fewshot)
    _add_images(fewshot)
    fewshot.add_argument("--shots", default=",".join(map(str, DEFAULT_SHOTS)))
    fewshot.add_argument(
        "--init-methods", default="paper-cosine", help="synthesized rows used as initialization"
    )
    add_spec_option(fewshot, "--repeats", FewShotSpec, "repeats", "draws of the shots per k")
    add_spec_option(fewshot, "--steps", FewShotSpec, "steps", "full-batch Adam steps")
    add_spec_option(fewshot, "--lr", FewShotSpec, "lr", "Adam learning rate")
    add_spec_option(
        fewshot, "--n", FewShotSpec, "n", "test positives and negatives per class (capped)"
    )


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default="default", help="'default' (EfficientNet-Lite0) or a timm name"
    )
    parser.add_argument("--weights", default=None, help="local safetensors weights for --model")
    add_device_option(parser, EvalSpec)
    parser.add_argument(
        "--cache-dir",
        default="",
        help="embedding and model cache (default: cache/ in the database's storage root)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _add_images(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--images",
        required=True,
        help="a <wnid>/*.jpg folder, a list file, or a registered set name",
    )
    parser.add_argument(
        "--classes", default=",".join(PAPER_CLASSES), help="class ids, comma-separated"
    )
    add_spec_option(parser, "--seed", EvalSpec, "seed", "sampling seed")


def _model(args) -> ModelSpec:
    if args.weights:
        return ModelSpec(name=args.model, pretrained=False, weights_path=args.weights)
    return ModelSpec(name=args.model)


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _resolve_set(con, source: str, actor: str) -> int:
    """A registered set's id by name or id, else register the folder/list file."""
    from db.image_sets import get_image_set, get_image_set_id
    from extension.images.sets import register_image_set

    if source.isascii() and source.isdigit() and get_image_set(con, int(source)):
        return int(source)
    found = get_image_set_id(con, source)
    if found is not None:
        return found
    path = Path(source)
    return register_image_set(
        con,
        path,
        name=path.resolve().name,
        kind="list" if path.is_file() else "folder",
        created_by=actor,
    )


def handle_image_sets(args: argparse.Namespace) -> int:
    from db import image_sets as set_db
    from extension.images.sets import register_image_set, run_embed_image_set

    with open_database(args.db) as con:
        if args.action == "list":
            _emit(args, set_db.list_image_sets(con).to_dicts())
            return 0
        if not args.source:
            raise ValueError(
                f"image-sets {args.action} needs a source (folder, list file, set name or id)"
            )
        actor = resolve_actor(args.actor)
        if args.action == "add":
            path = Path(args.source)
            set_id = register_image_set(
                con,
                path,
                name=args.name,
                kind="list" if path.is_file() else "folder",
                created_by=actor,
            )
            _emit(args, set_db.get_image_set(con, set_id))
        elif args.action == "embed":
            set_id = _resolve_set(con, args.source, actor)
            spec = EmbedSpec(
                set_id,
                model=_model(args),
                device=args.device,
                batch_size=args.batch_size,
                chunk_size=args.chunk_size,
                **engine_fields(args),
            )
            _emit(
                args,
                run_embed_image_set(con, spec, _progress(args), cache_dir=args.cache_dir or None),
            )
        else:
            _emit(
                args,
                set_db.list_image_errors(con, _resolve_set(con, args.source, actor)).to_dicts(),
            )
    return 0


def handle_evaluate(args: argparse.Namespace) -> int:
    from extension.evaluation.heads import resolve_methods
    from extension.evaluation.protocol import run_evaluation

    with open_database(args.db) as con:
        actor = resolve_actor(None)
        spec = EvalSpec(
            image_set_id=_resolve_set(con, args.images, actor),
            classes=tuple(_split(args.classes)),
            methods=resolve_methods(_split(args.methods)),
            n=args.n,
            seed=args.seed,
            negative_sets=tuple(_resolve_set(con, s, actor) for s in _split(args.negatives)),
            n_bootstrap=args.bootstrap,
            model=_model(args),
            device=args.device,
            name=args.name,
            min_positives=args.min_positives,
        )
        result = run_evaluation(con, spec, _progress(args), cache_dir=args.cache_dir or None)
    if args.json:
        print(json.dumps(result, sort_keys=True, default=str))
    else:
        _print_table(result)
    return 0


def handle_fewshot(args: argparse.Namespace) -> int:
    from extension.evaluation.fewshot import run_fewshot
    from extension.evaluation.heads import resolve_methods

    with open_database(args.db) as con:
        spec = FewShotSpec(
            image_set_id=_resolve_set(con, args.images, resolve_actor(None)),
            classes=tuple(_split(args.classes)),
            shots=tuple(int(k) for k in _split(args.shots)),
            init_methods=resolve_methods(_split(args.init_methods)),
            repeats=args.repeats,
            steps=args.steps,
            lr=args.lr,
            n=args.n,
            seed=args.seed,
            model=_model(args),
            device=args.device,
        )
        result = run_fewshot(con, spec, _progress(args), cache_dir=args.cache_dir or None)
    _emit(args, result)
    return 0


def _progress(args):
    return None if args.json else print_progress


def _emit(args, payload) -> None:
    if args.json:
        print(json.dumps(payload, sort_keys=True, default=str))
    else:
        print(json.dumps(payload, indent=2, sort_keys=True, default=str))


def _print_table(result: dict) -> None:
    rule = result["default_rule"]
    print(f"run {result['run_id']}  decision rule '{rule}': {result['rules'][rule]}")
    print(
        f"{'class':<28} {'method':<18} {'n+':>5} {'n-':>5} {'F1':>6} {'AUROC':>6} {'AP':>6}  "
        "all-pos F1"
    )
    for wnid, entry in result["classes"].items():
        for method, m in entry["methods"].items():
            print(
                f"{entry['name'][:20] + ' ' + wnid:<28.28} {method:<18.18} {entry['n_pos']:>5} "
                f"{entry['n_neg']:>5} "
                f"{m[f'f1@{rule}']['value']:6.3f} {m['auroc']['value']:6.3f} "
                f"{m['ap']['value']:6.3f}  "
                f"{entry['references']['all_positive_f1']:.3f}"
            )
    sys.stdout.flush()
