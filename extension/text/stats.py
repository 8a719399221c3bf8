"""Per-class text frequency vectors, exactly as the paper, vectorized with polars.

Definition (the reference is `compute_reference_counts`, a plain NLTK loop):

- An *example* of a class is one caption record (its title, description and tags joined
  with spaces) or the class's active description. A class's number of examples is
  `n_captions + (1 if it has an active description else 0)`.
- Tokens: NLTK's `wordpunct_tokenize` (pattern `\\w+|[^\\w\\s]+`, needs no downloaded
  data), lowercased, kept only when made of at least 2 Latin letters a-z.
- Tokens that occur in more than 90 % of the classes are dropped.
- A class's value for a token = its number of occurrences over all the class's examples
  divided by the class's number of examples.

The vectorized build does the same with one regex: a maximal `\\w+` run that is all a-z
(after lowercasing) is exactly what `\\b[a-z]{2,}\\b` matches, and punctuation tokens never
pass the filter. Equality with the NLTK loop is a unit test.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch

MAX_CLASS_FRACTION = 0.9
TOKEN_REGEX = r"\b[a-z]{2,}\b"
_KEEP = re.compile(r"^[a-z]{2,}$")


@dataclass(frozen=True)
class TextStats:
    """Sparse class-by-token frequency matrix.

    Attributes:
        wnids: (C,) row order.
        vocab: (V,) column order (sorted tokens).
        n_examples: (C,) examples per class.
        entries: frame `row` (i32), `col` (i32), `value` (f64), one row per non-zero.
        class_counts: (V,) how many classes contain each token.
    """

    wnids: tuple[str, ...]
    vocab: tuple[str, ...]
    n_examples: np.ndarray
    entries: pl.DataFrame
    class_counts: np.ndarray

    def to_sparse(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """(C, V) sparse COO matrix (coalesced) of the values."""
        index = np.stack([self.entries["row"].to_numpy(), self.entries["col"].to_numpy()]).astype(
            np.int64
        )
        values = torch.tensor(self.entries["value"].to_numpy(), dtype=dtype)
        shape = (len(self.wnids), len(self.vocab))
        return torch.sparse_coo_tensor(
            torch.from_numpy(index), values, shape, check_invariants=False
        ).coalesce()

    def row_index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.wnids)}


def tokenize_reference(text: str) -> list[str]:
    """The reference tokenization: NLTK wordpunct, lowercase, only a-z tokens of length >= 2."""
    from nltk.tokenize import wordpunct_tokenize

    return [t for t in (tok.lower() for tok in wordpunct_tokenize(text)) if _KEEP.match(t)]


def compute_reference_counts(examples: list[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """Straightforward per-example NLTK loop: wnid -> token -> count (before any filtering)."""
    counts: dict[str, dict[str, int]] = {}
    for wnid, text in examples:
        bucket = counts.setdefault(wnid, {})
        for token in tokenize_reference(text):
            bucket[token] = bucket.get(token, 0) + 1
    return counts


def compute_token_counts(examples: pl.DataFrame) -> pl.DataFrame:
    """Vectorized counts: frame `wnid`, `text` -> frame `wnid`, `token`, `count`."""
    return (
        examples.lazy()
        .select(
            pl.col("wnid"),
            pl.col("text").str.to_lowercase().str.extract_all(TOKEN_REGEX).alias("token"),
        )
        .explode("token")
        .drop_nulls("token")
        .group_by("wnid", "token")
        .agg(pl.len().cast(pl.Int64).alias("count"))
        .collect()
    )


def compute_text_stats(
    examples: pl.DataFrame, *, max_class_fraction: float = MAX_CLASS_FRACTION
) -> TextStats:
    """Build the frequency matrix from one row per example.

    Args:
        examples: frame with `wnid` and `text` (one row per caption record or description).
        max_class_fraction: drop tokens present in more than this fraction of classes.

    Raises:
        ValueError: no examples, missing columns, or a fraction outside (0, 1].
    """
    missing = {"wnid", "text"} - set(examples.columns)
    if missing:
        raise ValueError(f"examples need columns 'wnid' and 'text'; missing {sorted(missing)}")
    if examples.is_empty():
        raise ValueError("No class texts: ingest captions or set class descriptions first.")
    if not 0.0 < max_class_fraction <= 1.0:
        raise ValueError(f"max_class_fraction must be in (0, 1], got {max_class_fraction}")
    return _compute_text_stats(
        examples.select("wnid", pl.col("text").fill_null("")), max_class_fraction
    )


def _compute_text_stats(examples: pl.DataFrame, max_class_fraction: float) -> TextStats:
    per_class = examples.group_by("wnid").agg(pl.len().alias("n_examples")).sort("wnid")
    wnids = per_class["wnid"].to_list()
    counts = compute_token_counts(examples)
    spread = counts.group_by("token").agg(pl.len().alias("n_classes"))
    limit = max_class_fraction * len(wnids)
    vocab_frame = spread.filter(pl.col("n_classes") <= limit).sort("token")
    vocab_frame = vocab_frame.with_row_index("col")
    rows = per_class.with_row_index("row")
    entries = (
        counts.join(vocab_frame.select("token", "col"), on="token")
        .join(rows, on="wnid")
        .select(
            pl.col("row").cast(pl.Int32),
            pl.col("col").cast(pl.Int32),
            (pl.col("count") / pl.col("n_examples")).alias("value"),
        )
        .sort("row", "col")
    )
    return TextStats(
        wnids=tuple(wnids),
        vocab=tuple(vocab_frame["token"].to_list()),
        n_examples=per_class["n_examples"].to_numpy().astype(np.int64),
        entries=entries,
        class_counts=vocab_frame["n_classes"].to_numpy().astype(np.int64),
    )


def compute_text_vector(stats: TextStats, texts: list[str]) -> torch.Tensor:
    """(V,) dense frequency vector of new texts (one example each) in the stats' vocabulary.

    Raises:
        ValueError: no texts, or none of their tokens is in the vocabulary.
    """
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ValueError("Give a description or at least one text for the class.")
    counts = compute_token_counts(pl.DataFrame({"wnid": ["new"] * len(texts), "text": texts}))
    lookup = pl.DataFrame({"token": list(stats.vocab)}).with_row_index("col")
    hits = counts.join(lookup, on="token")
    if hits.is_empty():
        seen = sorted(counts["token"].to_list())[:10]
        raise ValueError(
            "The text has no usable tokens: none of its words (a-z, at least 2 letters; "
            f"found {seen or 'none'}) is in the vocabulary of the {len(stats.wnids)} classes' "
            "texts. Describe the class in more, or more common, English words."
        )
    vector = torch.zeros(len(stats.vocab), dtype=torch.float64)
    vector[torch.from_numpy(hits["col"].to_numpy().astype(np.int64))] = torch.from_numpy(
        hits["count"].to_numpy().astype(np.float64)
    ) / len(texts)
    return vector


def compute_texts_sha256(texts: list[str]) -> str:
    """sha256 of texts (order kept), for provenance."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\x00")
    return digest.hexdigest()
