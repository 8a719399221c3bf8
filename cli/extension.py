"""Head synthesis commands: `loo`, `text-stats`, `add-class`, `discard-class`, `export-model`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli.common import (
    add_actor_option,
    add_command,
    add_device_option,
    add_spec_option,
    open_database,
    print_progress,
    resolve_actor,
)
from extension.specs import LooSpec, TextEmbeddingSpec

# Printed per method, around the image metrics of `extension.loo.IMAGE_SUMMARY_KEYS` (the
# 1000-way test first).
_SUMMARY_FIRST_COLUMNS = ("method",)
_SUMMARY_LAST_COLUMNS = ("n_classes", "row_cosine_mean", "compute_seconds")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    loo = add_command(subparsers, "loo", "leave-one-out benchmark of synthesis methods", handle_loo)
    loo.add_argument(
        "--method",
        action="append",
        default=None,
        help="a method name (repeat, or 'all'); see --list-methods",
    )
    loo.add_argument("--list-methods", action="store_true", help="print the method names and exit")
    loo.add_argument(
        "--images", default=None, help="image folders named by wnid (enables image metrics)"
    )
    loo.add_argument(
        "--calibration-images",
        default=None,
        help="unlabeled image folders (named by wnid, never the --images set) that calibrated "
        "methods set the biases on; a left-out class's own folder is excluded",
    )
    _add_encoder_option(loo)
    loo.add_argument(
        "--classes", default="", help="comma-separated wnids to leave out (default: all)"
    )
    add_spec_option(loo, "--max-images-per-class", LooSpec, "max_images_per_class", "0 = all")
    loo.add_argument("--per-class-out", default=None, help="write per-class metrics (JSON) here")
    loo.add_argument("--json", action="store_true", help="print one JSON object")
    _add_model_options(loo)

    embed = add_command(
        subparsers,
        "text-embeddings",
        "embed the class texts with a sentence encoder (cached)",
        handle_text_embeddings,
    )
    _add_encoder_option(embed)
    add_device_option(embed, TextEmbeddingSpec)
    add_spec_option(embed, "--batch-size", TextEmbeddingSpec, "batch_size", "texts per pass")

    stats = add_command(
        subparsers, "text-stats", "build the class text statistics (if stale)", handle_text_stats
    )
    stats.add_argument("--force", action="store_true", help="rebuild even when up to date")

    table = add_command(
        subparsers,
        "class-distances",
        "Table 1 of a class: closest/furthest",
        handle_class_distances,
    )
    table.add_argument("--wnid", required=True)
    table.add_argument("-k", type=int, default=5, help="nearest classes to list per distance")

    add = add_command(
        subparsers, "add-class", "add a class from text and synthesize its row", handle_add_class
    )
    add_actor_option(add)
    add.add_argument("--id", required=True, help="'custom-<slug>' or an ImageNet-21k wnid")
    add.add_argument("--name", required=True)
    add.add_argument("--description", default=None, help="the description text")
    add.add_argument("--description-file", default=None, help="read the description from a file")
    add.add_argument("--texts-file", default=None, help="extra texts, one per line")
    add.add_argument(
        "--method",
        action="append",
        default=None,
        help="method name(s); first is exported (default: the best calibrated method with "
        "--calibration-set, else the best method without images)",
    )
    add.add_argument(
        "--calibration-set",
        default=None,
        help="a registered image set (name or id, embedded with the model) that calibrated "
        "methods set the row's bias on, unlabeled",
    )
    _add_encoder_option(add)
    add.add_argument("--keep", action="store_true", help="keep it at once (add to the catalog)")
    add.add_argument("--json", action="store_true")
    _add_model_options(add)

    keep = add_command(
        subparsers, "keep-class", "keep a draft class (add it to the catalog)", handle_keep_class
    )
    add_actor_option(keep)
    keep.add_argument("--id", required=True)
    keep.add_argument("--method", default="", help="the row to export (default: its first)")

    discard = add_command(
        subparsers, "discard-class", "delete an added class and its rows", handle_discard_class
    )
    discard.add_argument("--id", required=True)

    export = add_command(
        subparsers, "export-model", "write base model + kept added classes for timm", handle_export
    )
    export.add_argument(
        "--out",
        default="",
        help="a new output folder (default: a new folder under the storage root's exports/); "
        "an existing folder with content is refused, never replaced",
    )
    export.add_argument(
        "--classes", default="", help="comma-separated added classes (default: all kept)"
    )
    _add_model_options(export)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="default",
        help="'default' (offline EfficientNet-Lite0) or a timm model name",
    )
    parser.add_argument("--weights", default=None, help="local safetensors state dict for --model")
    parser.add_argument(
        "--no-pretrained",
        action="store_true",
        help="seeded random weights instead of hub weights (tests, smoke runs)",
    )
    add_device_option(parser, LooSpec)


def _add_encoder_option(parser: argparse.ArgumentParser) -> None:
    from extension.specs import DEFAULT_TEXT_ENCODER

    parser.add_argument(
        "--text-encoder",
        default=DEFAULT_TEXT_ENCODER,
        help="sentence encoder of the embedding distance: an alias, local folder or Hugging "
        "Face name available offline",
    )


def _model_spec(args: argparse.Namespace):
    from extension.specs import ModelSpec

    return ModelSpec(name=args.model, weights_path=args.weights, pretrained=not args.no_pretrained)


def _methods(names: list[str] | None, default: tuple[str, ...] = ("paper-cosine",)) -> tuple:
    from extension.synthesis.methods import list_methods, resolve_method

    names = names or list(default)
    if "all" in names:
        names = list_methods()
    return tuple(resolve_method(n) for n in names)


def handle_loo(args: argparse.Namespace) -> int:
    from extension.synthesis.loo import run_loo
    from extension.synthesis.methods import list_methods

    if args.list_methods:
        print("\n".join(list_methods()))
        return 0
    spec = LooSpec(
        methods=_methods(args.method),
        classes=tuple(c.strip() for c in args.classes.split(",") if c.strip()),
        images_dir=args.images,
        model=_model_spec(args),
        device=args.device,
        max_images_per_class=args.max_images_per_class,
        calibration_images_dir=args.calibration_images,
        text_encoder=args.text_encoder,
    )
    with open_database(args.db) as con:
        result = run_loo(con, spec, None if args.json else print_progress)
    if args.per_class_out:
        Path(args.per_class_out).write_text(json.dumps(result["per_class"]), encoding="utf-8")
    summaries = [
        {k: v for k, v in s.items() if k != "spec"} | {"spec": s["spec"]} for s in result["results"]
    ]
    if args.json:
        out = summaries[0] if len(summaries) == 1 else {"results": summaries}
        print(json.dumps(out))
    else:
        _print_table(summaries)
    return 0


def _print_table(summaries: list[dict]) -> None:
    from extension.synthesis.loo import IMAGE_SUMMARY_KEYS

    columns = _SUMMARY_FIRST_COLUMNS + IMAGE_SUMMARY_KEYS + _SUMMARY_LAST_COLUMNS
    cols = [c for c in columns if any(c in s for s in summaries)]
    print(" | ".join(cols))
    for s in summaries:
        print(
            " | ".join(
                f"{s[c]:.3f}" if isinstance(s.get(c), float) else str(s.get(c, "")) for c in cols
            )
        )


def handle_text_embeddings(args: argparse.Namespace) -> int:
    from extension.text.embedding import run_embed_class_texts

    spec = TextEmbeddingSpec(args.text_encoder, args.device, args.batch_size)
    with open_database(args.db) as con:
        print(json.dumps(run_embed_class_texts(con, spec, print_progress)))
    return 0


def handle_text_stats(args: argparse.Namespace) -> int:
    from extension.specs import TextStatsSpec
    from extension.text.store import run_build_text_stats

    with open_database(args.db) as con:
        print(json.dumps(run_build_text_stats(con, TextStatsSpec(force=args.force)), default=str))
    return 0


def handle_class_distances(args: argparse.Namespace) -> int:
    import polars as pl

    from extension.text.store import compute_class_table1, ensure_text_stats

    with open_database(args.db) as con:
        ensure_text_stats(con)
        result = compute_class_table1(con, args.wnid, k=args.k)
    with pl.Config(tbl_rows=50, fmt_str_lengths=60, tbl_width_chars=160):
        print(result["table1"])
        for distance, frame in result["nearest"].items():
            print(f"nearest by {distance}:")
            print(frame)
    return 0


def _read_text(value: str | None, path: str | None, what: str) -> str:
    if path:
        file = Path(path)
        if not file.exists():
            raise FileNotFoundError(f"{what} file {file} does not exist.")
        return file.read_text(encoding="utf-8")
    return value or ""


def handle_add_class(args: argparse.Namespace) -> int:
    from extension.specs import AddClassSpec
    from extension.synthesis.methods import list_default_methods
    from extension.synthesis.new_class import keep_added_class, run_add_class

    description = _read_text(args.description, args.description_file, "Description")
    texts = _read_text(None, args.texts_file, "Texts").splitlines() if args.texts_file else []
    with open_database(args.db) as con:
        set_id = _image_set_id(con, args.calibration_set)
        defaults = list_default_methods(calibration_images=set_id is not None, embeddings=True)
        spec = AddClassSpec(
            class_id=args.id,
            name=args.name,
            description=description,
            texts=tuple(t for t in texts if t.strip()),
            methods=_methods(args.method, tuple(defaults)),
            model=_model_spec(args),
            device=args.device,
            actor=resolve_actor(args.actor),
            calibration_set_id=set_id,
            text_encoder=args.text_encoder,
        )
        result = run_add_class(con, spec, None if args.json else print_progress)
        if args.keep:
            keep_added_class(con, result["wnid"], primary_method=result["heads"][0]["method_label"])
            result["status"] = "kept"
        else:
            result["status"] = "draft"
    if args.json:
        print(json.dumps(result))
        return 0
    for distance, rows in result["nearest"].items():
        print(f"nearest by {distance}:")
        for r in rows:
            print(f"  {r['rank']}. {r['name']} ({r['wnid']}) {r['distance']:.3f}: {r['reason']}")
    print(
        f"{result['wnid']} ({result['status']}): "
        + ", ".join(f"{h['method_label']} norm {h['row_norm']:.3f}" for h in result["heads"])
    )
    return 0


def _image_set_id(con, name_or_id: str | None) -> int | None:
    """The id of a registered image set given by name or id (None: none given).

    Raises:
        ValueError: no such set.
    """
    from db.image_sets import get_image_set, get_image_set_id

    if name_or_id is None:
        return None
    if name_or_id.isascii() and name_or_id.isdigit() and get_image_set(con, int(name_or_id)):
        return int(name_or_id)
    set_id = get_image_set_id(con, name_or_id)
    if set_id is None:
        raise ValueError(
            f"No image set {name_or_id!r}: register it first (workbench image-sets add DIR)."
        )
    return set_id


def handle_keep_class(args: argparse.Namespace) -> int:
    from extension.specs import KeepClassSpec
    from extension.synthesis.drafts import run_keep_class

    spec = KeepClassSpec(args.id, args.method, resolve_actor(args.actor))
    with open_database(args.db) as con:
        result = run_keep_class(con, spec)
    print(f"kept {result['wnid']} (exported row: {result['primary_method']})")
    return 0


def handle_discard_class(args: argparse.Namespace) -> int:
    from extension.synthesis.new_class import discard_added_class

    with open_database(args.db) as con:
        n = discard_added_class(con, args.id)
    print(f"discarded {args.id} ({n} head file(s) removed)")
    return 0


def handle_export(args: argparse.Namespace) -> int:
    from extension.specs import ExportSpec
    from extension.synthesis.export import run_export

    wnids = tuple(c.strip() for c in args.classes.split(",") if c.strip())
    spec = ExportSpec(out_dir=args.out, model=_model_spec(args), wnids=wnids)
    with open_database(args.db) as con:
        result = run_export(con, spec)
    print(json.dumps(result), file=sys.stdout)
    return 0
