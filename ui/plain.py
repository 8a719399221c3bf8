"""The one rendering rule for text that is not a constant: it is shown as typed, never as markup.

Streamlit renders Markdown (links, images, emoji and icon shortcodes, LaTeX) in messages,
progress text, toasts, captions and widget labels. Text from the data (captions, class names,
file names) and from users (names, paths, model names, error messages quoting them, job
messages) goes through these helpers, which escape every Markdown character, so a caption file
named `![x](http://host/x.png)` shows those characters and the browser fetches nothing. Long
text (records, reports, diffs) goes to `st.text` / `st.code`, which never interpret it.
"""

from __future__ import annotations

import html
import re

import streamlit as st

# Every character Markdown, GFM autolinks, emoji/icon shortcodes (':') and LaTeX ('$') use.
_MARKDOWN_CHARS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'])")
# Two patterns are found in the text after escapes are resolved, so no escape stops them: GFM
# autolink literals (http://, https://, www., user@host) and Streamlit's `:material/icon:`
# shortcodes. An invisible WORD JOINER (U+2060) inside each breaks it.
_UNESCAPABLE = re.compile(r"(?i)(?<=http)(?=s?:)|(?<=www)(?=\.)|(?=@)|(?<=:)(?=[a-z])")
_WORD_JOINER = "\u2060"


def escape_markdown(text: object) -> str:
    """`text` as a string in which Markdown renders nothing (each special character escaped)."""
    text = _UNESCAPABLE.sub(_WORD_JOINER, str(text))
    return _MARKDOWN_CHARS.sub(r"\\\1", text)


def error(message: object) -> None:
    """`st.error` with the message shown as typed."""
    st.error(escape_markdown(message))


def warning(message: object) -> None:
    """`st.warning` with the message shown as typed."""
    st.warning(escape_markdown(message))


def info(message: object) -> None:
    """`st.info` with the message shown as typed."""
    st.info(escape_markdown(message))


def success(message: object) -> None:
    """`st.success` with the message shown as typed."""
    st.success(escape_markdown(message))


def toast(message: object) -> None:
    """`st.toast` with the message shown as typed."""
    st.toast(escape_markdown(message))


def caption(message: object) -> None:
    """`st.caption` with the message shown as typed."""
    st.caption(escape_markdown(message))


def progress(fraction: float, message: object) -> None:
    """`st.progress` with its text shown as typed."""
    st.progress(min(max(float(fraction), 0.0), 1.0), text=escape_markdown(message))


def label(text: object) -> str:
    """A widget label (or `st.radio` option) built from data, safe for any `st.*` label.

    Not for `st.selectbox` / `st.multiselect` options: those are plain text already, and the
    escapes would show."""
    return escape_markdown(text)


def chart_text(text: object) -> str:
    """Text for a plotly label or hover (plotly reads a few HTML tags: entities make them inert)."""
    return html.escape(str(text), quote=True)
