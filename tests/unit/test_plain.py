"""`ui.plain.escape_markdown` in the fast suite: text from data and users renders as typed.

The browser test (tests/security/test_security_rendering.py) proves it in Chromium; these
pin the two things no backslash escape can stop, which Streamlit's Markdown (GFM) would
otherwise turn into links or icons: autolink literals (http://, https://, www., user@host)
and `:icon:` shortcodes. A WORD JOINER (U+2060) inside each breaks it.
"""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from ui.plain import escape_markdown

WJ = "\u2060"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://x.io/a", f"http{WJ}s\\://x\\.io/a"),
        ("HTTP://x.io", f"HTTP{WJ}\\://x\\.io"),
        ("www.x.org", f"www{WJ}\\.x\\.org"),
        ("ann@host.org", f"ann{WJ}@host\\.org"),
        (":material/home:", f"\\:{WJ}material/home\\:"),
        (":smile:", f"\\:{WJ}smile\\:"),
        ("12:30", "12\\:30"),  # a colon before a digit starts no shortcode
        ("a_b*c", "a\\_b\\*c"),
    ],
)
def test_autolinks_and_shortcodes_are_broken_by_a_word_joiner(text, expected):
    assert escape_markdown(text) == expected


HOSTILE = [
    "see https://evil.example/x.png and www.evil.example",
    "mail root@evil.example now",
    "![img](http://127.0.0.1:9/x.png) [link](javascript:alert(1)) <http://a.b/c>",
    ":material/home: :smile: $x^2$ **bold** # heading",
    "<img src=x onerror=alert(1)> <b>bold</b> <script>alert(2)</script>",
]


def _resolved(escaped: str) -> str:
    """The text a Markdown renderer sees once backslash escapes are resolved."""
    return re.sub(r"\\(.)", r"\1", escaped)


@pytest.mark.parametrize("text", HOSTILE)
def test_no_autolink_or_shortcode_survives_escaping(text):
    shown = _resolved(escape_markdown(text))
    assert shown.replace(WJ, "") == text  # reads as typed
    assert not re.search(r"(?i)https?:|www\.|[^\u2060]@|:[a-z]", shown)


@pytest.mark.parametrize("text", HOSTILE)
def test_commonmark_renders_the_escaped_text_as_one_plain_paragraph(text):
    html = MarkdownIt("commonmark").render(escape_markdown(text))
    assert not re.search(r"<(a|img|em|strong|h1|code|b|script)\b", html)
    assert html.startswith("<p>") and html.count("<") == 2  # <p> and </p> only
