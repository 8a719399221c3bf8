"""Explore panels: search by meaning and duplicate groups, each feeding the bulk keep/drop
(one undoable event) of `curation.relevance.decisions`.

Caption text is data: shown with st.text / st.dataframe; messages through `ui.plain`. The
message of a change, with its bulk event id for the undo button, is kept in
`st.session_state["ex-last-bulk"]` until the next change.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from curation import duplicates as dup
from curation.relevance import decisions
from curation.relevance.specs import CaptionFilter
from curation.search import (
    MAX_QUERY_CHARS,
    CaptionFeatureSpec,
    check_query,
    encode_query,
    search_captions,
)
from curation.thumbnails import get_image_root
from db.classes import list_classes
from db.relevance import list_caption_sources
from ui import plain
from ui.explore_resources import (
    MAX_LENGTH,
    get_caption_index,
    get_caption_texts,
    get_encoder_name,
    get_query_encoder,
    get_similar_pairs,
)
from ui.resources import get_cursor, start_job_once
from ui.thumbnails import render_caption_image
from ui.widgets import NAME_FIRST, find_latest_job, get_actor, render_job_status, require_actor

ANY = "(any)"
SHOWN_COLUMNS = ("caption_id", "wnid", "class_name", "title", "description", "decision")
MAX_GROUP_IMAGES = 8


def class_labels(con) -> dict[str, str]:
    classes = list_classes(con)
    return {w: f"{n} ({w})" for w, n in classes.select("wnid", "name").iter_rows()}


def render_features_missing(con, index, *, key: str) -> bool:
    """Say how many captions lack a feature and offer the job that computes them (with its
    progress). Returns True when no caption has one yet (nothing to search)."""
    job_id = find_latest_job("caption-features")
    job = render_job_status(job_id, key=f"{key}-features") if job_id is not None else None
    running = job is not None and job["status"] in ("queued", "running")
    if index.n_missing and not running:
        plain.info(
            f"{index.n_missing:,} of {index.n_missing + index.size:,} captions have no "
            "sentence-encoder feature yet"
            + (": search, duplicates and the map need them." if not index.size else ".")
        )
        if st.button("Compute caption features (background job)", key=f"{key}-features-start"):
            spec = CaptionFeatureSpec(encoder=get_encoder_name(), max_length=MAX_LENGTH)
            start_job_once(spec)
            st.rerun()
    return index.size == 0


def _search_filter(con, labels: dict, *, key: str) -> CaptionFilter:
    cols = st.columns([3, 2, 2, 2])
    wnid = cols[0].selectbox(
        "Class", [ANY, *sorted(labels)], format_func=lambda w: labels.get(w, w), key=f"{key}-wnid"
    )
    source = cols[1].selectbox("Source", [ANY, *list_caption_sources(con)], key=f"{key}-source")
    contains = cols[2].text_input("Text contains", key=f"{key}-contains", max_chars=500)
    decision = cols[3].selectbox(
        "A person's decision", [ANY, "keep", "drop", "none"], key=f"{key}-decision"
    )
    return CaptionFilter(
        wnid=None if wnid == ANY else wnid,
        source=None if source == ANY else source,
        search=contains.strip(),
        decision=None if decision == ANY else decision,
    )


def render_search(con, *, key: str = "ex-search") -> None:
    """Search by meaning (or "more like this" caption), filters, results, bulk keep/drop."""
    index = get_caption_index(con)
    if render_features_missing(con, index, key=key):
        return
    labels = class_labels(con)
    cols = st.columns([5, 1])
    text = cols[0].text_input(
        "Search by meaning (e.g. a photo taken at night)", key=f"{key}-q", max_chars=MAX_QUERY_CHARS
    )
    top_k = cols[1].number_input("Results", 5, 1000, 50, 5, key=f"{key}-k")
    like = st.session_state.get(f"{key}-like")
    caption_filter = _search_filter(con, labels, key=key)
    if like is not None:
        cols = st.columns([4, 1])
        plain.caption(f"More like caption {like} (clear it to search by text again).")
        if cols[1].button("Clear", key=f"{key}-like-clear"):
            st.session_state.pop(f"{key}-like", None)
            st.rerun()
    try:
        if like is not None:
            query, exclude = index.vector_of(int(like)), (int(like),)
        else:
            if not text.strip():
                st.caption("Type what the captions should be about.")
                return
            encoder, tokenizer, _ = get_query_encoder(get_encoder_name())
            query = encode_query(encoder, tokenizer, check_query(text), max_length=MAX_LENGTH)
            exclude = ()
    except ValueError as exc:
        plain.error(exc)
        return
    results = search_captions(
        con, index, query, caption_filter=caption_filter, top_k=int(top_k), exclude=exclude
    )
    plain.caption(
        f"{results.height} closest of {index.size:,} captions with features"
        f" ({caption_filter.describe()}); cosine similarity, best first."
    )
    _render_results(con, results, key=key)


def _render_results(con, results: pl.DataFrame, *, key: str) -> None:
    if results.is_empty():
        st.info("No caption matches these filters.")
        return
    event = st.dataframe(
        results.select("rank", "similarity", *SHOWN_COLUMNS),
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key=f"{key}-table",
    )
    picked = event.selection.rows if event is not None else []
    ids = results["caption_id"].to_list()
    if picked:
        st.session_state[f"{key}-open"] = ids[picked[0]]
    if st.session_state.get(f"{key}-open") not in ids:
        st.session_state[f"{key}-open"] = ids[0]
    opened = st.selectbox("Open caption (or click a row above)", ids, key=f"{key}-open")
    if opened is not None:
        row = results.row(ids.index(opened), named=True)
        render_caption(con, row)
        if st.button("More like this", key=f"{key}-more"):
            st.session_state[f"{key}-like"] = int(row["caption_id"])
            st.rerun()
    render_bulk_buttons(con, results["caption_id"].to_list(), what="these results", key=key)


def render_caption(con, row: dict) -> None:
    """One caption in full with its image."""
    image, text = st.columns([1, 2])
    with image:
        render_caption_image(get_image_root(con), row["filename"], row["wnid"])
    with text:
        st.text(
            f"Caption {row['caption_id']} ({row['source']}, {row['filename']})\n"
            f"Class: {row['class_name']} ({row['wnid']})\nTitle: {row['title']}\n"
            f"Description: {row['description']}\nTags: {', '.join(row['tags'] or [])}\n"
            f"A person's decision: {row['decision'] or 'none'}"
        )


def render_bulk_buttons(con, caption_ids: list[int], *, what: str, key: str) -> None:
    """Keep / drop every caption listed, as one undoable bulk event, and the undo of the last.

    The buttons act in their callbacks, before the page runs again: one run shows the result
    (a run that acted and then called st.rerun cost two)."""
    cols = st.columns([3, 1, 1])
    reason = cols[0].text_input("Reason (required)", key=f"{key}-reason")
    for column, decision in ((cols[1], "drop"), (cols[2], "keep")):
        column.button(
            f"{decision.capitalize()} {what} ({len(caption_ids)})",
            key=f"{key}-{decision}",
            disabled=not reason.strip(),
            on_click=_apply_bulk,
            args=(tuple(caption_ids), decision, key),
        )
    render_last_bulk_undo(con, key=key)


def _apply_bulk(caption_ids: tuple[int, ...], decision: str, key: str) -> None:
    """Button callback: one bulk event over `caption_ids` with the reason typed."""
    actor = get_actor()
    if actor is None:
        st.session_state["ex-error"] = NAME_FIRST
        return
    try:
        change = decisions.update_decisions_bulk(
            get_cursor(),
            CaptionFilter(caption_ids=caption_ids),
            decision=decision,
            reason=str(st.session_state.get(f"{key}-reason") or ""),
            actor=actor,
            expected_count=len(set(caption_ids)),
        )
    except (ValueError, PermissionError) as exc:
        st.session_state["ex-error"] = str(exc)
        return
    st.session_state["ex-last-bulk"] = (change.bulk_id, change.describe())


def render_last_bulk_undo(con, *, key: str) -> None:
    """The message of the last bulk change made here, with its undo (or what the undo did)."""
    if message := st.session_state.pop("ex-message", None):
        plain.success(message)
    if refused := st.session_state.pop("ex-error", None):
        plain.error(refused)
    last = st.session_state.get("ex-last-bulk")
    if not last:
        return
    bulk_id, message = last
    cols = st.columns([4, 1])
    with cols[0]:
        plain.success(message)
    cols[1].button(
        f"Undo bulk event {bulk_id}", key=f"{key}-undo", on_click=_undo_bulk, args=(int(bulk_id),)
    )


def _undo_bulk(bulk_id: int) -> None:
    """Button callback: undo one bulk event."""
    actor = get_actor()
    if actor is None:
        st.session_state["ex-error"] = NAME_FIRST
        return
    try:
        change = decisions.undo_bulk_event(get_cursor(), bulk_id, actor=actor)
    except (ValueError, PermissionError) as exc:
        st.session_state["ex-error"] = str(exc)
        return
    st.session_state["ex-last-bulk"] = None
    st.session_state["ex-message"] = change.describe()


def render_duplicates(con, *, key: str = "ex-dup") -> None:
    """Duplicate groups at a threshold the curator moves; a group's members, classes and
    images; keep one and drop the rest, or drop the group (one undoable event each)."""
    index = get_caption_index(con)
    render_features_missing(con, index, key=key)
    cols = st.columns([3, 2])
    threshold = cols[0].slider(
        "Near-duplicate threshold (cosine of the caption features)",
        dup.MIN_THRESHOLD,
        1.0,
        dup.DEFAULT_THRESHOLD,
        0.005,
        key=f"{key}-threshold",
    )
    cross_only = cols[1].checkbox("Only groups spanning classes (label noise)", key=f"{key}-x")
    pairs = get_similar_pairs(con, index) if index.size else None
    groups = dup.find_duplicate_groups(
        con,
        index if index.size else None,
        threshold=threshold,
        pairs=pairs,
        texts=get_caption_texts(con),
    )
    plain.caption(groups.summary() + ".")
    shown = groups.groups.filter(pl.col("cross_class")) if cross_only else groups.groups
    if shown.is_empty():
        st.info("No duplicate group at this threshold.")
        render_last_bulk_undo(con, key=key)
        return
    event = st.dataframe(
        shown, hide_index=True, on_select="rerun", selection_mode="single-row", key=f"{key}-table"
    )
    picked = event.selection.rows if event is not None else []
    ids = shown["group_id"].to_list()
    if picked:
        st.session_state[f"{key}-group"] = ids[picked[0]]
    if st.session_state.get(f"{key}-group") not in ids:
        st.session_state[f"{key}-group"] = ids[0]
    group_id = st.selectbox("Group (or click a row above)", ids, key=f"{key}-group")
    _render_group(con, groups, shown.row(ids.index(group_id), named=True), key=key)


def _render_group(con, groups, group: dict, *, key: str) -> None:
    members = dup.list_group_members(con, groups, group["group_id"])
    flag = " It spans classes: a label-noise signal." if group["cross_class"] else ""
    plain.caption(
        f"Group {group['group_id']}: {group['n_members']} captions ({group['kind']}) in "
        f"{group['n_classes']} classes.{flag}"
    )
    st.dataframe(members.select(*SHOWN_COLUMNS, "filename"), hide_index=True)
    root = get_image_root(con)
    shown = members.head(MAX_GROUP_IMAGES).iter_rows(named=True)
    for column, row in zip(st.columns(4) * 2, shown, strict=False):
        with column:
            render_caption_image(root, row["filename"], row["wnid"], width=140)
            plain.caption(f"{row['caption_id']} · {row['wnid']}")
    ids = members["caption_id"].to_list()
    cols = st.columns([2, 3, 2, 2])
    keep = cols[0].selectbox("Keep", ids, key=f"{key}-keep-{group['group_id']}")
    reason = cols[1].text_input("Reason (required)", value="duplicate", key=f"{key}-reason")
    actions = ((cols[2], "Keep one, drop the rest", keep), (cols[3], "Drop the group", None))
    for column, label, kept in actions:
        if column.button(label, key=f"{key}-{'rest' if kept else 'all'}"):
            if actor := require_actor():
                try:
                    change = dup.update_group_decisions(
                        con, ids, keep_caption_id=kept, reason=reason, actor=actor
                    )
                    st.session_state["ex-last-bulk"] = (change.bulk_id, change.describe())
                    st.rerun()
                except ValueError as exc:
                    plain.error(exc)
    render_last_bulk_undo(con, key=key)
