"""Where a JSON list file first goes wrong: the byte offset in the whole file and the record.

DuckDB parses caption files fast but reports a broken file by the byte within the record and
a value count that is not the record's index. When it refuses a file, `find_json_list_error`
reads the file again with Python's parser, one element at a time, and says exactly where the
first problem is: the byte offset from the start of the file (a UTF-8 BOM counted) and the
0-based index of the record being read (None before the list starts). A truncated file is
reported at its end: the byte count of the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

_BOM = b"\xef\xbb\xbf"
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# A high surrogate escape not followed by a low one, or a low one not preceded by a high one.
_HIGH, _LOW = r"\\u[dD][89abAB][0-9a-fA-F]{2}", r"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
_LONE_SURROGATE = re.compile(rf"{_HIGH}(?!{_LOW})|(?<!{_HIGH}){_LOW}")


@dataclass(frozen=True)
class JsonListError:
    """The first problem in a JSON list file.

    Attributes:
        byte: offset from the start of the file (0-based).
        record: 0-based index of the list element being read, None outside any element.
        reason: what is wrong there.
    """

    byte: int
    record: int | None
    reason: str

    def describe(self) -> str:
        where = f"byte {self.byte}"
        if self.record is not None:
            where += f" (record {self.record}, counting from 0)"
        return f"at {where}: {self.reason}"


# The locator reads at most this much of a file (its memory is a few times the bytes read): a
# huge or sparse file is located within its first part, or left to DuckDB's own message.
MAX_LOCATE_BYTES = 64 << 20


def find_json_list_error(path: str | Path) -> JsonListError | None:
    """The first error of a JSON list file, or None when Python's parser accepts it (or the
    first `MAX_LOCATE_BYTES` of a larger file hold no error)."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_LOCATE_BYTES + 1)
    if len(data) <= MAX_LOCATE_BYTES:
        return compute_json_list_error(data)
    data = data[:MAX_LOCATE_BYTES]
    found = compute_json_list_error(data)
    # The cut makes the prefix look truncated (or breaks a character): not the file's error.
    return found if found is not None and found.byte < len(data) - 4 else None


def compute_json_list_error(data: bytes) -> JsonListError | None:
    """The first error of a JSON list held in `data` (bytes of the whole file), or None."""
    start = len(_BOM) if data.startswith(_BOM) else 0
    try:
        text = data[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = data[start : start + exc.start].decode("utf-8")
        found = _scan(prefix)
        record = found[1] if found else None
        return JsonListError(start + exc.start, record, f"not valid UTF-8: {exc.reason}")
    found = _scan(text)
    if found is None:
        return None
    position, record, reason = found
    # Characters are bytes in ASCII text (O(1) to know in CPython); else count the prefix.
    offset = position if text.isascii() else len(text[:position].encode("utf-8"))
    return JsonListError(start + offset, record, reason)


def _scan(text: str) -> tuple[int, int | None, str] | None:
    """(character position, record index, reason) of the first error, or None."""
    decoder = json.JSONDecoder()
    position = _skip(text, 0)
    if text[position : position + 1] != "[":
        return position, None, "expected '[' (a JSON list of records)"
    position = _skip(text, position + 1)
    if text[position : position + 1] == "]":
        return _after_list(text, position)
    index = 0
    while True:
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            return _decode_error(text, exc, index)
        if _has_lone_surrogate(value):  # Python accepts '\\ud800'; DuckDB (and UTF-8) do not
            found = _LONE_SURROGATE.search(text, position, end)
            where = found.start() if found else position
            return where, index, "a lone UTF-16 surrogate escape (not a character)"
        position = _skip(text, end)
        following = text[position : position + 1]
        if following == ",":
            position, index = _skip(text, position + 1), index + 1
        elif following == "]":
            return _after_list(text, position)
        elif following == "":
            return position, index, "unexpected end of data (the list is not closed)"
        else:
            return position, index, f"expected ',' or ']' after the record, found {following!r}"


def _has_lone_surrogate(value) -> bool:
    """Whether a decoded JSON value holds a string with a lone surrogate (U+D800..U+DFFF)."""
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def _decode_error(text: str, exc: json.JSONDecodeError, index: int) -> tuple[int, int, str]:
    # An unterminated string runs to the end of the data: the file was cut there.
    if exc.msg.startswith("Unterminated string") or exc.pos >= len(text):
        return len(text), index, "unexpected end of data (the file is truncated)"
    return exc.pos, index, exc.msg


def _after_list(text: str, closing: int) -> tuple[int, None, str] | None:
    rest = _skip(text, closing + 1)
    return None if rest == len(text) else (rest, None, "unexpected data after the list")


def _skip(text: str, position: int) -> int:
    return _WHITESPACE.match(text, position).end()
