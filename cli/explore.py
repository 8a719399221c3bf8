"""`workbench captions ...`: caption features, search by meaning, duplicate groups.

- `captions features`: encode every caption the feature cache lacks (the page's job);
- `captions search --semantic TEXT` (or `--like CAPTION_ID`): the closest captions by cosine,
  with the class / source / substring / decision filters;
- `captions duplicates --threshold T`: exact and near-duplicate groups, `--json` for tools.
"""

from __future__ import annotations

import argparse
import json
import sys

from cli.common import (
    add_command,
    add_device_option,
    add_spec_option,
    open_database,
    print_progress,
)
from curation.search import CaptionFeatureSpec


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "captions", help="caption features, search by meaning, duplicate groups"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    features = add_command(actions, "features", "encode every caption lacking a feature", handle)
    _add_encoder_options(features)
    add_spec_option(features, "--batch-size", CaptionFeatureSpec, "batch_size", "texts per pass")
    add_device_option(features, CaptionFeatureSpec)
    search = add_command(actions, "search", "captions closest in meaning to a text", handle)
    what = search.add_mutually_exclusive_group(required=True)
    what.add_argument("--semantic", metavar="TEXT", help="what the captions should be about")
    what.add_argument("--like", type=int, metavar="CAPTION_ID", help="more like this caption")
    search.add_argument("--wnid", default=None, help="only this class")
    search.add_argument("--source", default=None, help="only this caption source")
    search.add_argument("--contains", default="", help="and this substring (case-insensitive)")
    search.add_argument("--decision", default=None, choices=["keep", "drop", "none"])
    search.add_argument("--top-k", type=int, default=20)
    search.add_argument("--json", action="store_true", help="one JSON list on stdout")
    _add_encoder_options(search)
    dups = add_command(actions, "duplicates", "exact and near-duplicate caption groups", handle)
    dups.add_argument("--threshold", type=float, default=None, help="cosine in (0, 1]")
    dups.add_argument("--exact-only", action="store_true", help="no features needed")
    dups.add_argument("--limit", type=int, default=20, help="groups printed (not with --json)")
    dups.add_argument("--json", action="store_true", help="every group with its members")
    _add_encoder_options(dups)


def _add_encoder_options(parser: argparse.ArgumentParser) -> None:
    add_spec_option(parser, "--encoder", CaptionFeatureSpec, "encoder", "as for relevance train")
    add_spec_option(parser, "--max-length", CaptionFeatureSpec, "max_length", "tokens per text")
    parser.add_argument("--cache-dir", default="", help="default: the storage root's text-features")


def handle(args: argparse.Namespace) -> int:
    with open_database(args.db) as con:
        return {"features": _features, "search": _search, "duplicates": _duplicates}[args.action](
            con, args
        )


def _features(con, args) -> int:
    from curation.search import run_compute_caption_features

    spec = CaptionFeatureSpec(
        encoder=args.encoder,
        max_length=args.max_length,
        batch_size=args.batch_size,
        device=args.device,
        cache_dir=args.cache_dir,
    )
    report = run_compute_caption_features(con, spec, print_progress)
    print(json.dumps(report, indent=1))
    return 0


def _index(con, args, *, with_encoder: bool):
    """(encoder, tokenizer, index); refuses when no caption has a feature yet."""
    from curation.search import load_caption_index, load_query_encoder

    encoder, tokenizer, key = load_query_encoder(args.encoder)
    index = load_caption_index(
        con, encoder_key=key, max_length=args.max_length, cache_dir=args.cache_dir
    )
    if index.size == 0:
        raise ValueError(
            "No caption has a feature yet: run `workbench captions features` first "
            f"({index.n_missing:,} captions to encode)."
        )
    if index.n_missing:
        print(f"note: {index.n_missing:,} captions have no feature yet", file=sys.stderr)
    return (encoder, tokenizer, index) if with_encoder else (None, None, index)


def _search(con, args) -> int:
    from curation.relevance.specs import CaptionFilter
    from curation.search import check_query, encode_query, search_captions

    if args.semantic is not None:
        check_query(args.semantic)  # before loading anything
    encoder, tokenizer, index = _index(con, args, with_encoder=True)
    query = (
        index.vector_of(args.like)
        if args.like is not None
        else encode_query(encoder, tokenizer, args.semantic, max_length=args.max_length)
    )
    caption_filter = CaptionFilter(
        wnid=args.wnid, source=args.source, search=args.contains.strip(), decision=args.decision
    )
    results = search_captions(
        con,
        index,
        query,
        caption_filter=caption_filter,
        top_k=args.top_k,
        exclude=(args.like,) if args.like is not None else (),
    )
    if args.json:
        print(json.dumps(results.to_dicts(), default=str))
        return 0
    for row in results.iter_rows(named=True):
        text = " ".join(f"{row['title']} {row['description']}".split())[:100]
        print(
            f"{row['rank']:>3} {row['similarity']:.3f} {row['caption_id']:>8} {row['wnid']} {text}"
        )
    return 0


def _duplicates(con, args) -> int:
    from curation.duplicates import (
        DEFAULT_THRESHOLD,
        check_threshold,
        find_duplicate_groups,
        format_groups_json,
    )

    threshold = check_threshold(DEFAULT_THRESHOLD if args.threshold is None else args.threshold)
    index = None if args.exact_only else _index(con, args, with_encoder=False)[2]
    groups = find_duplicate_groups(con, index, threshold=threshold)
    if args.json:
        print(json.dumps(format_groups_json(con, groups)))
        return 0
    print(groups.summary())
    for row in groups.groups.head(args.limit).iter_rows(named=True):
        flag = "  CROSS-CLASS" if row["cross_class"] else ""
        text = " ".join(row["text"].split())[:80]
        print(f"group {row['group_id']:>5}: {row['n_members']:>4} {row['kind']:<5}{flag}  {text}")
    return 0
