"""The image grid: one page of the caption table's matches as thumbnails, each with its
caption (plain text) and P(own class) under it, and an Open button that opens the record.

The page, its size and the filters are the table's; what has no image is counted with the
reason (`curation.thumbnails.count_missing_images`). Caption text is data: st.text only.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from curation.thumbnails import count_missing_images
from db.explore import list_caption_scores
from db.relevance import get_default_model_version
from ui import plain
from ui.thumbnails import render_caption_image

COLUMNS = 5
CAPTION_CHARS = 90
THUMB_WIDTH = 180


def render_image_grid(con, frame: pl.DataFrame, root, *, key: str, record_key: str) -> None:
    """Thumbnails of `frame`'s captions (caption_id, filename, wnid, title, description);
    Open puts a caption's id in the URL as `record_key` (the record selector reads it)."""
    rows = list(frame.select("filename", "wnid").iter_rows())
    reasons, missing = count_missing_images(root, rows)
    n_missing = sum(missing.values())
    plain.caption(
        f"{frame.height - n_missing} of {frame.height} captions on this page have an image."
        + "".join(f" {n} without: {reason}." for reason, n in missing.items())
    )
    scores = _scores(con, frame["caption_id"].to_list())
    cells = st.columns(COLUMNS)
    for i, (row, reason) in enumerate(zip(frame.iter_rows(named=True), reasons, strict=True)):
        with cells[i % COLUMNS]:
            _render_cell(row, reason, root, scores.get(row["caption_id"]))
            if st.button("Open", key=f"{key}-open-{row['caption_id']}"):
                st.query_params[record_key] = str(row["caption_id"])  # select_in_url reads it


def _render_cell(row: dict, reason: str | None, root, score: float | None) -> None:
    if reason is None:
        render_caption_image(root, row["filename"], row["wnid"], width=THUMB_WIDTH)
    else:
        st.text(f"(no image: {row['filename']})")
    text = " | ".join(t for t in (row["title"], row["description"]) if t) or "(empty caption)"
    cut = text if len(text) <= CAPTION_CHARS else text[: CAPTION_CHARS - 1] + "…"
    score_text = "not scored" if score is None else f"P(own) {score:.3f}"
    st.text(f"{cut}\n{row['caption_id']} · {score_text}")


def _scores(con, caption_ids: list[int]) -> dict[int, float]:
    """P(own class) of these captions in the default model version ({} without one)."""
    version = get_default_model_version(con)
    if version is None or not caption_ids:
        return {}
    scores = list_caption_scores(con, version, caption_ids)
    return dict(zip(scores["caption_id"].to_list(), scores["p_own"].to_list(), strict=True))
