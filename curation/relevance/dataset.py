"""The paper's relevance dataset: captions with more than one word, a per-class seeded
train/test split, and 2-10 leading sentences of each class's active description.

Training pairs are (caption, sentence of its class) for every sentence; they are kept as two
index arrays, not as strings, so 450k captions x 10 sentences cost a few MB.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl

from curation.relevance.specs import DatasetSpec
from db import relevance as relevance_db
from db import relevance_relabels as relabel_db

_WORD = re.compile(r"\w+", re.UNICODE)
# A sentence ends at . ! ? (with closing quotes/brackets) before whitespace and an uppercase
# letter, digit or opening quote. Untrained nltk Punkt splits after "e.g." and "Dr.", and the
# trained model needs a download, so a regex with an abbreviation list is used instead.
_BOUNDARY = re.compile(r"([.!?][\"'”’)\]]*)\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset(
    "e.g i.e dr mr mrs ms st mt ft vs etc approx ca c no fig jr sr prof gen col lt sgt inc co "
    "ltd corp var subsp sp spp al cf".split()
)
SPLITS = ("train", "test")
# Texts where more than this share of letters is outside ASCII are counted as likely
# non-English (a cheap heuristic: they are still used, truncated like any other text).
NON_ASCII_LETTER_SHARE = 0.3


@dataclass(frozen=True)
class RelevanceDataset:
    """Captions with split and label, class sentences, and the report shown before training.

    Attributes:
        class_wnids: the class set in output-row order (sorted wnids).
        captions: caption_id, wnid, label (row in class_wnids), text, split.
        sentences: wnid -> the leading sentences used for that class.
        report: counts (see `compute_dataset_report`).
        per_class: wnid, n_train, n_test, n_sentences, n_train_pairs.
        description_revisions: wnid -> revision of the active description the sentences
            were taken from (the export says when the description moved on since).
    """

    class_wnids: tuple[str, ...]
    captions: pl.DataFrame
    sentences: dict[str, list[str]]
    report: dict = field(default_factory=dict)
    per_class: pl.DataFrame = field(default_factory=pl.DataFrame)
    description_revisions: dict[str, int] = field(default_factory=dict)


def compute_caption_text(title: str, description: str, tags: list[str] | None) -> str:
    """Title, description and tags joined by spaces, whitespace collapsed."""
    parts = [title or "", description or "", " ".join(tags or [])]
    return " ".join(" ".join(parts).split())


def compute_caption_texts(records: pl.DataFrame) -> list[str]:
    """`compute_caption_text` for every row of a frame with title, description, tags."""
    columns = (records[c].to_list() for c in ("title", "description", "tags"))
    return [compute_caption_text(t, d, g) for t, d, g in zip(*columns, strict=True)]


def compute_word_count(text: str) -> int:
    """Number of word tokens (runs of letters/digits, any script)."""
    return len(_WORD.findall(text))


def compute_is_non_ascii_heavy(text: str) -> bool:
    """True when more than 30 % of the letters are outside ASCII (likely not English)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return False
    return sum(not ch.isascii() for ch in letters) / len(letters) > NON_ASCII_LETTER_SHARE


def compute_sentences(text: str, *, max_sentences: int = 10) -> list[str]:
    """The leading sentences of a text (at most `max_sentences`), without any download."""
    if max_sentences < 1:
        raise ValueError(f"max_sentences must be >= 1, got {max_sentences}")
    text = " ".join(text.split())
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(text):
        before = text[start : match.start()].split()
        last_word = before[-1].rstrip(".").lower() if before else ""
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue
        sentences.append(text[start : match.end(1)].strip())
        start = match.end()
        if len(sentences) == max_sentences:
            return sentences
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences[:max_sentences]


def compute_test_counts(class_sizes: dict[str, int], *, test_fraction: float) -> dict[str, int]:
    """Test captions per class: round(test_fraction * n), and for classes with at most 100
    captions clamped so that >= 50 % stay in train and >= 20 % go to test. A class with one
    caption cannot meet both: it goes to train.
    """
    counts = {}
    for wnid, n in class_sizes.items():
        n_test = int(round(test_fraction * n))
        if n <= 100:
            n_test = min(max(n_test, math.ceil(0.2 * n)), n // 2)
        counts[wnid] = max(n_test, 0)
    return counts


def compute_split(wnids: list[str], *, test_fraction: float, seed: int) -> np.ndarray:
    """A seeded per-class split. Returns a bool array, True = test, aligned with `wnids`."""
    wnid_array = np.asarray(wnids, dtype=object)
    sizes = {w: int(c) for w, c in zip(*np.unique(wnid_array, return_counts=True), strict=True)}
    n_test = compute_test_counts(sizes, test_fraction=test_fraction)
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(wnids), dtype=bool)
    for wnid in sorted(sizes):
        rows = np.flatnonzero(wnid_array == wnid)
        is_test[rng.permutation(rows)[: n_test[wnid]]] = True
    return is_test


def build_relevance_dataset(con: duckdb.DuckDBPyConnection, spec: DatasetSpec) -> RelevanceDataset:
    """Read captions and active descriptions and apply the paper's rules.

    Raises:
        ValueError: an unknown caption source (the message lists the sources), or no class
            has both captions and a description.
    """
    check_caption_source(con, spec.source)
    records = relevance_db.list_caption_records(con, wnids=spec.wnids or None, source=spec.source)
    n_read = records.height
    if spec.use_curation:
        records = apply_curation(con, records, drop_dropped=True)
    descriptions = relevance_db.list_active_description_texts(con)
    dataset = _compute_dataset(records, dict(descriptions.select("wnid", "text").iter_rows()), spec)
    dataset.report["n_left_out_dropped_by_curator"] = n_read - records.height
    revisions = dict(descriptions.select("wnid", "revision").iter_rows())
    dataset.description_revisions.update({w: revisions[w] for w in dataset.class_wnids})
    relabelled = records["relabelled"] if spec.use_curation else pl.Series([], dtype=pl.Boolean)
    dataset.report["n_relabelled_by_curator"] = int(relabelled.sum())
    return dataset


def apply_curation(
    con: duckdb.DuckDBPyConnection,
    records: pl.DataFrame,
    *,
    drop_dropped: bool,
    class_wnids: list[str] | None = None,
) -> pl.DataFrame:
    """A curator's decisions on caption records: a relabelled caption takes its curated class
    (only where it is in `class_wnids`, when given), and with drop_dropped the captions a
    person dropped leave. Adds `relabelled` (bool).

    Kept captions are trusted as they are (the ranking lists leave them out).
    """
    curation = relabel_db.list_caption_curation(con)
    if drop_dropped:
        dropped = curation.filter(pl.col("decision") == "drop")["caption_id"]
        records = records.filter(~pl.col("caption_id").is_in(dropped.implode()))
    relabels = curation.filter(pl.col("curated_wnid").is_not_null()).select(
        "caption_id", "curated_wnid"
    )
    if class_wnids is not None:
        relabels = relabels.filter(pl.col("curated_wnid").is_in(list(class_wnids)))
    return (
        records.join(relabels, on="caption_id", how="left")
        .with_columns(
            pl.col("curated_wnid").is_not_null().alias("relabelled"),
            pl.coalesce("curated_wnid", "wnid").alias("wnid"),
        )
        .drop("curated_wnid")
    )


def check_caption_source(con: duckdb.DuckDBPyConnection, source: str | None) -> str | None:
    """`source` when it is None (every source) or a caption source that holds captions.

    Raises:
        ValueError: any other name; the message lists the sources there are.
    """
    if source is None:
        return None
    sources = relevance_db.list_caption_sources(con)
    if source not in sources:
        raise ValueError(
            f"Caption source {source!r} has no captions here; sources with captions: "
            f"{sources or 'none (import captions first)'}."
        )
    return source


def _compute_dataset(records: pl.DataFrame, descriptions: dict[str, str], spec: DatasetSpec):
    texts = compute_caption_texts(records)
    frame = records.select("caption_id", "wnid").with_columns(pl.Series("text", texts, pl.Utf8))
    words = pl.Series([compute_word_count(t) for t in texts], dtype=pl.Int64)
    too_short = words < spec.min_words
    sentences = {
        w: compute_sentences(descriptions[w], max_sentences=spec.max_sentences)
        for w in sorted(set(frame["wnid"]))
        if w in descriptions and descriptions[w].strip()
    }
    no_description = sorted(set(frame["wnid"]) - set(sentences))
    described = {w for w, t in descriptions.items() if t and t.strip()}
    if spec.wnids:
        described &= set(spec.wnids)
    no_captions = sorted(described - set(frame.filter(~too_short)["wnid"]))
    kept = frame.filter(~too_short & pl.col("wnid").is_in(list(sentences)))
    class_wnids = tuple(sorted(set(kept["wnid"])))
    if spec.max_classes:
        class_wnids = class_wnids[: spec.max_classes]
        kept = kept.filter(pl.col("wnid").is_in(list(class_wnids)))
    if not class_wnids:
        raise ValueError(
            "No class has both captions with at least "
            f"{spec.min_words} words and an active description: import captions and pick "
            "class descriptions first."
        )
    sentences = {w: sentences[w] for w in class_wnids}
    is_test = compute_split(
        kept["wnid"].to_list(), test_fraction=spec.test_fraction, seed=spec.seed
    )
    index = {w: i for i, w in enumerate(class_wnids)}
    kept = kept.with_columns(
        pl.col("wnid").replace_strict(index, return_dtype=pl.Int32).alias("label"),
        pl.Series("split", np.where(is_test, "test", "train"), pl.Utf8),
    ).select("caption_id", "wnid", "label", "text", "split")
    per_class = compute_per_class_counts(kept, sentences)
    report = compute_dataset_report(
        frame,
        kept,
        per_class,
        too_short=int(too_short.sum()),
        no_description=no_description,
        no_captions=no_captions,
        sentences=sentences,
        spec=spec,
    )
    return RelevanceDataset(class_wnids, kept, sentences, report, per_class)


def compute_per_class_counts(
    captions: pl.DataFrame, sentences: dict[str, list[str]]
) -> pl.DataFrame:
    """Per class: n_train, n_test captions, n_sentences, and n_train_pairs = n_train x sentences."""
    counts = captions.group_by("wnid").agg(
        (pl.col("split") == "train").sum().alias("n_train"),
        (pl.col("split") == "test").sum().alias("n_test"),
    )
    n_sent = pl.DataFrame(
        {"wnid": list(sentences), "n_sentences": [len(s) for s in sentences.values()]},
        schema={"wnid": pl.Utf8, "n_sentences": pl.Int64},
    )
    return (
        counts.join(n_sent, on="wnid", how="left")
        .with_columns((pl.col("n_train") * pl.col("n_sentences")).alias("n_train_pairs"))
        .sort("wnid")
    )


def compute_dataset_report(
    frame, kept, per_class, *, too_short, no_description, no_captions, sentences, spec
):
    """The counts shown before training (all plain ints and lists, JSON-ready)."""
    non_ascii = pl.Series(
        [compute_is_non_ascii_heavy(t) for t in kept["text"].to_list()], dtype=pl.Boolean
    )
    dropped_classes = frame.filter(~pl.col("wnid").is_in(list(sentences)))
    return {
        "n_captions_read": frame.height,
        "n_skipped_short": too_short,
        "n_skipped_no_description": int(dropped_classes.height),
        "classes_without_description": no_description,
        "classes_without_captions": no_captions,
        "source": spec.source,
        "n_classes": len(sentences),
        "n_classes_short_description": sum(len(s) < spec.min_sentences for s in sentences.values()),
        "n_train_captions": int((kept["split"] == "train").sum()),
        "n_test_captions": int((kept["split"] == "test").sum()),
        "n_train_pairs": int(per_class["n_train_pairs"].sum()),
        "n_non_ascii_heavy": int(non_ascii.sum()),
    }


def compute_training_pairs(dataset: RelevanceDataset) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every (train caption, sentence of its class) pair as index arrays.

    Returns:
        caption_rows (P,) into `dataset.captions`, sentence_ids (P,) into the flat sentence
        list, and that flat list (classes in class_wnids order).
    """
    flat, start, count = [], [], []
    for wnid in dataset.class_wnids:
        start.append(len(flat))
        count.append(len(dataset.sentences[wnid]))
        flat.extend(dataset.sentences[wnid])
    start_a, count_a = np.asarray(start), np.asarray(count)
    labels = dataset.captions["label"].to_numpy()
    train_rows = np.flatnonzero(dataset.captions["split"].to_numpy() == "train")
    repeats = count_a[labels[train_rows]]
    caption_rows = np.repeat(train_rows, repeats)
    offsets = np.arange(len(caption_rows)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    sentence_ids = start_a[labels[caption_rows]] + offsets
    return caption_rows, sentence_ids, flat
