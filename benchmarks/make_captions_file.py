"""Generate a full-size file shaped like the official ImageNet-Captions JSON.

The real file (131 MB, 448,896 records) cannot be shipped. This writes a synthetic one with
the same shape, so ingest and search can be benchmarked at full size:

- per-class record counts and field-presence rates (title / tags / description non-empty)
  from `../shared/data/imagenet_captions/class_counts.csv` (the real per-class counts);
  presence is drawn independently per field with the class's rates;
- the real layout: a JSON list, `indent=1`, keys in the real order, UTF-8 (not \\u-escaped);
- realistic lengths: short titles (log-normal, median ~4 words), descriptions with a heavy
  tail (median ~9 words, a few thousand characters at most), ~8 tags per record (geometric);
  words from the class lemmas plus a photo vocabulary with some accented words, so that
  substring searches find matches.

Seeded and vectorised with numpy (word choices are drawn in bulk; Python only joins
strings), about 10 s for the full file. Never write it into git: the default output is
`.cache/imagenet_captions_synthetic.json` (gitignored).

Usage:
    .venv/bin/python benchmarks/make_captions_file.py [--out PATH] [--seed 0] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from itertools import pairwise
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from curation.catalog import load_wordnet_lemmas  # noqa: E402

CLASS_COUNTS = REPO_ROOT.parent / "shared" / "data" / "imagenet_captions" / "class_counts.csv"
DEFAULT_OUT = REPO_ROOT / ".cache" / "imagenet_captions_synthetic.json"
PHOTO_WORDS = (
    "photo picture image shot day night summer winter spring autumn trip vacation holiday "
    "park garden zoo museum street city beach lake river mountain forest farm home family "
    "friends kids dog cat bird red blue green black white yellow old new big small macro "
    "canon nikon sony 50mm 85mm f1.8 iso hdr bokeh light sunset sunrise sky cloud water "
    "snow rain portrait landscape nature wildlife animal car road bridge house church tower "
    "food market festival concert show art exhibition collection vintage antique detail "
    "closeup view walk travel usa uk france germany italy japan china india brazil canada "
    "london paris berlin tokyo newyork california texas florida 2006 2007 2008 2009 2010 "
    "musée café straße über señor niño façade rüstung français crème déjà naïve"
).split()


def _read_class_counts(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if int(row["n_records"]) > 0]


def _class_vocab(rows: list[dict]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Words of every class's lemmas, flattened; per class the (start, stop) of its words."""
    lemmas = load_wordnet_lemmas()
    words: list[str] = []
    starts, stops = [], []
    for row in rows:
        text = lemmas.get(row["wnid"], row["clip_classname"])
        class_words = sorted({w for w in text.replace(",", " ").lower().split() if w})
        starts.append(len(words))
        words.extend(class_words or [row["clip_classname"]])
        stops.append(len(words))
    return words, np.array(starts), np.array(stops)


def _draw_words(rng, n_words: np.ndarray, class_of: np.ndarray, vocab: dict) -> list[str]:
    """One string per record with `n_words[i]` words, ~25 % from the record's class lemmas."""
    total = int(n_words.sum())
    record = np.repeat(np.arange(len(n_words)), n_words)
    cls = class_of[record]
    start, stop = vocab["starts"][cls], vocab["stops"][cls]
    class_pick = start + (rng.random(total) * (stop - start)).astype(np.int64)
    photo_pick = vocab["n_class_words"] + rng.integers(0, len(PHOTO_WORDS), total)
    picks = np.where(rng.random(total) < 0.25, class_pick, photo_pick)
    words = vocab["words"]
    bounds = np.concatenate([[0], np.cumsum(n_words)]).tolist()
    picks_list = picks.tolist()
    return [" ".join(words[i] for i in picks_list[a:b]) for a, b in pairwise(bounds)]


def _field_lengths(rng, n: int, present: np.ndarray, median: float, sigma: float, cap: int):
    lengths = np.clip(np.rint(rng.lognormal(np.log(median), sigma, n)), 1, cap).astype(np.int64)
    return np.where(present, lengths, 0)


def make_records(rows: list[dict], *, seed: int, scale: float) -> dict[str, list]:
    """Columns of the synthetic records (filename, wnid, title, description, tags)."""
    rng = np.random.default_rng(seed)
    counts = np.array([max(1, round(int(r["n_records"]) * scale)) for r in rows])
    class_of = np.repeat(np.arange(len(rows)), counts)
    n = len(class_of)

    def rate(column: str) -> np.ndarray:
        return np.array([int(r[column]) / int(r["n_records"]) for r in rows])[class_of]

    class_words, starts, stops = _class_vocab(rows)
    vocab = {
        "words": class_words + PHOTO_WORDS,
        "starts": starts,
        "stops": stops,
        "n_class_words": len(class_words),
    }
    title_n = _field_lengths(rng, n, rng.random(n) < rate("n_title_nonempty"), 4, 0.6, 40)
    desc_n = _field_lengths(rng, n, rng.random(n) < rate("n_description_nonempty"), 9, 1.1, 700)
    tags_n = np.where(rng.random(n) < rate("n_tags_nonempty"), rng.geometric(1 / 8, n), 0)
    tags_n = np.minimum(tags_n, 75)
    tag_words = _draw_words(rng, tags_n, class_of, vocab)
    within = np.concatenate([np.arange(c) for c in counts])
    image_ids = within * 7 + rng.integers(0, 7, n) + 1  # unique per class, not contiguous
    wnids = [rows[c]["wnid"] for c in class_of.tolist()]
    return {
        "filename": [f"{w}_{i}.JPEG" for w, i in zip(wnids, image_ids.tolist(), strict=True)],
        "wnid": wnids,
        "title": _draw_words(rng, title_n, class_of, vocab),
        "description": _draw_words(rng, desc_n, class_of, vocab),
        "tags": [t.split(" ") if t else [] for t in tag_words],
    }


def write_records(columns: dict[str, list], out: Path) -> int:
    """Write the records as the real file is laid out (`json.dump(indent=1)`). Returns bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    parts = []
    for fn, title, tags, desc, wnid in zip(
        columns["filename"],
        columns["title"],
        columns["tags"],
        columns["description"],
        columns["wnid"],
        strict=True,
    ):
        tag_block = "[\n   " + ",\n   ".join(map(dumps, tags)) + "\n  ]" if tags else "[]"
        parts.append(
            f' {{\n  "filename": {dumps(fn)},\n  "title": {dumps(title)},\n  "tags": {tag_block},'
            f'\n  "description": {dumps(desc)},\n  "wnid": {dumps(wnid)}\n }}'
        )
    tmp = out.with_suffix(out.suffix + ".part")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write("[\n" + ",\n".join(parts) + "\n]")
    tmp.replace(out)
    return out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the real size")
    parser.add_argument("--class-counts", type=Path, default=CLASS_COUNTS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    columns = make_records(_read_class_counts(args.class_counts), seed=args.seed, scale=args.scale)
    size = write_records(columns, args.out)
    print(
        f"wrote {len(columns['filename']):,} records, {size / 1e6:.1f} MB to {args.out} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
