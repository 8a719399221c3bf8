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
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
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


def _shown_as_typed(element: str) -> Callable[[object], None]:
    """`st.<element>` (error, warning, ...) taking one message, shown as typed; `st.<element>`
    is looked up at each call, as a direct call would look it up."""

    def show(message: object) -> None:
        getattr(st, element)(escape_markdown(message))

    show.__name__ = show.__qualname__ = element
    show.__doc__ = f"`st.{element}` with the message shown as typed."
    return show


error = _shown_as_typed("error")
warning = _shown_as_typed("warning")
info = _shown_as_typed("info")
success = _shown_as_typed("success")
toast = _shown_as_typed("toast")
caption = _shown_as_typed("caption")


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


def escape_figure(figure: go.Figure) -> go.Figure:
    """A copy of `figure` with every string in its traces and layout through `chart_text`.

    Plotly's enumerated values ('group', 'lines+markers', '#2e7d32') hold none of the
    characters it changes; the layout's template (the theme, not ours) is left as it is.
    """
    spec = figure.to_plotly_json()
    layout = dict(spec.get("layout") or {})
    template = layout.pop("template", None)
    escaped = go.Figure(
        data=_escape_strings(spec.get("data") or []), layout=_escape_strings(layout)
    )
    if template is not None:
        escaped.update_layout(template=template)
    return escaped


def _escape_strings(value):
    if isinstance(value, str):
        return chart_text(value)
    if isinstance(value, dict):
        return {k: _escape_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escape_strings(v) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "OUS":
        return [_escape_strings(v) for v in value.tolist()]
    return value


def plotly_chart(figure: go.Figure, *, where=None, **kwargs):
    """`st.plotly_chart` (or `where.plotly_chart`, e.g. a column) of `figure` with all its
    text shown as typed; the one way the app draws a figure."""
    return (where or st).plotly_chart(escape_figure(figure), **kwargs)
