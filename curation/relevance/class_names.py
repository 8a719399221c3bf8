"""Which classes a caption names: each class's lemmas (its WordNet synonyms, e.g. 'Siberian
husky, husky') found as whole words in the caption text, longest phrase first.

A caption that names another class of the model and not its own is the plainest evidence of
a wrong label there is (a husky filed as a malamute whose author wrote "husky"), and it needs
no training: `curation.relevance.issues` blends these mentions with the model's probabilities.

Matching is on lowercase words (anything that is not a letter or a digit separates words, so
'man-eater' matches 'man eater'); the last word of a caption phrase may also match in its
singular ('huskies' -> 'husky', 'sharks' -> 'shark'). At each word the longest phrase of any
class wins and its words are consumed, so 'tiger shark' names the tiger shark, not the tiger.
A phrase shared by several classes ('crane': the bird and the machine) names all of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_TEXT_CHARS = 20_000  # a caption longer than this is matched on its first 20,000 characters
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class ClassNameIndex:
    """Phrase (words joined by one space) -> the class rows it names; `max_words`: the longest
    phrase's word count."""

    phrases: dict[str, frozenset[int]]
    max_words: int


def split_words(text: str) -> list[str]:
    """Lowercase words of `text` (letters and digits; everything else separates)."""
    return _WORD.findall(str(text)[:MAX_TEXT_CHARS].lower())


def compute_singular(word: str) -> str:
    """A plain English singular of `word` ('huskies' -> 'husky', 'boxes' -> 'box', 'dogs' ->
    'dog'); words that do not look plural come back unchanged."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def build_class_name_index(class_lemmas: Sequence[str]) -> ClassNameIndex:
    """The index of every class's lemmas.

    Args:
        class_lemmas: one ', '-separated lemma string per class row (the `classes.lemmas`
            column, in the model's class order).
    """
    phrases: dict[str, set[int]] = {}
    for row, lemmas in enumerate(class_lemmas):
        for lemma in str(lemmas or "").split(","):
            words = split_words(lemma)
            if words:
                phrases.setdefault(" ".join(words), set()).add(row)
    longest = max((p.count(" ") + 1 for p in phrases), default=0)
    return ClassNameIndex({p: frozenset(r) for p, r in phrases.items()}, longest)


def find_named_classes(words: list[str], index: ClassNameIndex) -> list[frozenset[int]]:
    """The class-row sets of each phrase `words` names, left to right, longest match first."""
    found: list[frozenset[int]] = []
    i = 0
    while i < len(words):
        for n in range(min(index.max_words, len(words) - i), 0, -1):
            rows = _lookup(words[i : i + n], index)
            if rows:
                found.append(rows)
                i += n
                break
        else:
            i += 1
    return found


def _lookup(words: list[str], index: ClassNameIndex) -> frozenset[int] | None:
    phrase = " ".join(words)
    rows = index.phrases.get(phrase)
    if rows is None and len(words[-1]) > 3:
        singular = " ".join([*words[:-1], compute_singular(words[-1])])
        rows = index.phrases.get(singular)
    return rows


def compute_name_mentions(
    texts: Sequence[str], labels: np.ndarray, index: ClassNameIndex
) -> dict[str, np.ndarray]:
    """Per caption, whether it names its own class and whether it names another one.

    Args:
        texts: (N,) caption texts. labels: (N,) each caption's class row.
        index: `build_class_name_index` of the model's classes (same row order as labels).

    Returns:
        names_own (N,) float64 1.0 where a phrase names the caption's class; names_other (N,)
        float64 1.0 where a phrase names only classes other than its own; named_other: (N,)
        list of the sorted class rows those phrases name (empty where none).
    """
    n = len(texts)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} caption texts")
    names_own, names_other = np.zeros(n), np.zeros(n)
    named_other: list[list[int]] = [[] for _ in range(n)]
    for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
        other: set[int] = set()
        for rows in find_named_classes(split_words(text), index):
            if int(label) in rows:
                names_own[i] = 1.0
            else:
                other |= rows
        names_other[i] = float(bool(other))
        named_other[i] = sorted(other)
    return {"names_own": names_own, "names_other": names_other, "named_other": named_other}


def find_named_catalog_classes(con, text: str) -> dict[str, str]:
    """wnid -> display name of every catalog class whose lemmas `text` names (sorted by wnid)."""
    from db import classes as class_db

    frame = class_db.list_classes(con)
    index = build_class_name_index(frame["lemmas"].to_list())
    found = set().union(*find_named_classes(split_words(text), index))
    rows = sorted(found, key=lambda r: frame["wnid"][r])
    return {frame["wnid"][r]: frame["name"][r] for r in rows}
