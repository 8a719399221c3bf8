"""Review panels of the relevance review page: a caption table with row selection and the
picked caption in full (its image beside the text, keep/drop with a reason, history, undo),
the curator's last change with its undo, and bulk keep/drop of a filter's matches.

Caption text is data: shown with st.text / st.dataframe; messages go through `ui.plain`.
A change's message is handed to the next run in `st.session_state["rr-message"]`, a refusal's
in `st.session_state["rr-error"]`.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from curation.relevance import class_names, decisions
from curation.relevance.dataset import compute_caption_text
from curation.relevance.specs import CaptionFilter
from ui import conflicts, plain
from ui.resources import get_cursor
from ui.thumbnails import render_caption_image
from ui.widgets import NAME_FIRST, get_actor, require_actor, select_in_url

ANY = "(any)"
BULK_CONFIRM_OVER = 50  # a bulk change of more captions asks "Yes, change all N" first
TABLE_COLUMNS = ("caption_id", "class", "p_own", "suggested", "p_suggested", "decision")


def with_class_names(frame: pl.DataFrame, labels: dict) -> pl.DataFrame:
    """`frame` plus `class` and `suggested`: the wnid and suggested_wnid as "name (wnid)"."""
    return frame.with_columns(
        pl.col("wnid").replace_strict(labels, default=pl.col("wnid")).alias("class"),
        pl.col("suggested_wnid")
        .replace_strict(labels, default=pl.col("suggested_wnid"))
        .alias("suggested"),
    )


def render_caption_table(con, rows: pl.DataFrame, labels: dict, *, key: str, root) -> None:
    """A table with single-row selection; the picked caption in full below it."""
    shown = with_class_names(rows, labels)
    event = st.dataframe(
        shown.select(*TABLE_COLUMNS, "title", "description", "tags"),
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key=key,
    )
    picked = event.selection.rows if event is not None else []
    if not picked:
        st.caption("Click a row to open the caption.")
        return
    render_caption_detail(con, shown.row(picked[0], named=True), root=root, key=key)


def render_caption_detail(con, row: dict, *, root, key: str, decision_form: bool = True) -> None:
    """A caption in full: its image, text, scores with their reasons, and (`decision_form`)
    the keep/drop form with the caption's history."""
    image, text = st.columns([1, 2])
    with image:
        render_caption_image(root, row["filename"], row["wnid"])
    with text:
        st.text(
            f"Caption {row['caption_id']} ({row['source']}, {row['filename']})\n"
            f"Class: {row['class']}\nTitle: {row['title']}\nDescription: {row['description']}\n"
            f"Tags: {', '.join(row['tags'] or [])}"
        )
        st.text(
            f"P(own) {row['p_own']:.3f}  mean P {row['p_mean']:.3f}  suggested: "
            f"{row['suggested']} (P {row['p_suggested'] or 0:.3f})\n"
            f"model: {row['model_decision']}  final: {row['decision']} ({row['decided_by']})"
        )
        if row.get("suspect_wrong_class") is not None:
            st.text(
                f"suspect wrong class {row['suspect_wrong_class']:.3f} (suggested class's share "
                f"{row['suggested_share']:.3f})  suspect no class content "
                f"{row['suspect_no_content']:.3f}  cleanlab flags it: {row.get('label_issue')}"
            )
        st.text(describe_named_classes(con, row))
        if row.get("relabelled"):
            plain.caption(f"Relabelled by a curator; imported as {row['original_wnid']}.")
    if decision_form:
        _render_decision_form(con, int(row["caption_id"]), key=key)


def describe_named_classes(con, row: dict) -> str:
    """Which catalog classes the caption names (their lemmas as whole words): the plainest
    reason a caption is filed under the wrong class, or is not."""
    text = compute_caption_text(row["title"], row["description"], row["tags"] or [])
    named = class_names.find_named_catalog_classes(con, text)
    if not named:
        return "The caption names no class of the catalog."
    own = "names its own class" if row["wnid"] in named else "does not name its own class"
    others = [f"{name} ({wnid})" for wnid, name in named.items() if wnid != row["wnid"]]
    return f"The caption {own}" + (f"; it names {', '.join(others)}." if others else ".")


def _render_decision_form(con, caption_id: int, *, key: str) -> None:
    """Keep/drop with a reason. A save names the history event this tab showed, so a
    colleague's change made meanwhile is not overwritten silently (`ui.conflicts`)."""
    form_key = f"{key}-{caption_id}"
    shown_event = conflicts.get_shown_event(form_key)
    cols = st.columns([1, 3, 1])
    choice = cols[0].radio("Decision", ["keep", "drop", "back to model"], key=f"{key}-choice")
    reason = cols[1].text_input("Reason (required)", key=f"{key}-reason")
    if cols[2].button("Apply", key=f"{key}-apply", disabled=not reason.strip()):
        actor = require_actor()
        if actor:
            decision = None if choice == "back to model" else choice
            retry = {"caption_id": caption_id, "decision": decision, "reason": reason}
            try:
                st.session_state["rr-message"] = _apply_decision(retry, shown_event)
            except decisions.ChangedMeanwhile as exc:
                conflicts.remember_conflict(
                    form_key, exc, mine=f"{decision or 'cleared'}: {reason}", retry=retry
                )
            except (ValueError, PermissionError) as exc:
                st.session_state["rr-error"] = str(exc)
            st.rerun()
    conflicts.render_conflict(form_key, _apply_decision)
    history = decisions.list_decision_history(con, caption_id=caption_id)  # newest first
    latest = int(history["event_id"][0]) if history.height else None
    conflicts.set_shown_event(form_key, latest)
    if latest is None:
        return
    st.dataframe(history, hide_index=True)
    if st.button(f"Undo event {latest}", key=f"{key}-undo"):
        actor = require_actor()
        if actor:
            change = decisions.undo_decision_event(con, latest, actor=actor)
            st.session_state["rr-message"] = "Undone: " + change.describe()
            st.rerun()


def _apply_decision(retry: dict, seen_event) -> str:
    """Write one keep/drop/clear that names the event its editor saw; the message."""
    change = decisions.update_decision(
        get_cursor(),
        retry["caption_id"],
        decision=retry["decision"],
        reason=retry["reason"],
        actor=get_actor(),
        seen_event=seen_event,
    )
    return change.describe()


def _bulk_filter(version: int, decided, labels) -> CaptionFilter:
    cols = st.columns([2, 1, 2])
    wnids = [ANY, *sorted(set(decided["wnid"].to_list()))]
    with cols[0]:
        wnid = select_in_url(
            "Class", wnids, key="bulk-wnid", format_func=lambda w: labels.get(w, w)
        )
    sources = [ANY, *sorted(set(decided["source"].to_list()))]
    source = cols[1].selectbox("Source", sources, key="bulk-source", bind="query-params")
    search = cols[2].text_input("Text contains", key="q", bind="query-params")
    cols = st.columns([3, 1])
    low, high = cols[0].slider(
        "P(own class) between", 0.0, 1.0, (0.0, 1.0), 0.01, key="p", bind="query-params"
    )
    other = cols[1].checkbox("Model suggests another class", key="other", bind="query-params")
    return CaptionFilter(
        model_version=version,
        wnid=None if wnid == ANY else wnid,
        source=None if source == ANY else source,
        search=search.strip(),
        p_min=low if low > 0.0 else None,
        p_max=high if high < 1.0 else None,
        suggested_other=other,
    )


def render_bulk(con, version: int, decided, labels) -> None:
    caption_filter = _bulk_filter(version, decided, labels)
    ids = decisions.list_filtered_caption_ids(con, caption_filter)
    plain.caption(f"{len(ids):,} captions match: {caption_filter.describe()}.")
    if ids:
        sample = decided.filter(pl.col("caption_id").is_in(ids[:200]))
        st.dataframe(
            with_class_names(sample, labels).select(*TABLE_COLUMNS, "title"), hide_index=True
        )
    # One form: the choice and the reason travel with the click that applies them (a reason
    # typed just before the click can not arrive after it), and a round's reason is cleared
    # once applied, so the next round never reuses it.
    with st.form("bulk-form", border=False):
        cols = st.columns([1, 3, 1])
        cols[0].radio("Set", ["drop", "keep", "back to model"], key="bulk-choice")
        cols[1].text_input("Reason (required)", key="bulk-reason")
        if len(ids) > BULK_CONFIRM_OVER:
            st.checkbox(f"Yes, change all {len(ids):,} captions", key="bulk-confirm")
        cols[2].form_submit_button(
            f"Apply to {len(ids):,}",
            key="bulk-apply",
            disabled=not ids,
            on_click=_apply_bulk,
            args=(caption_filter, len(ids)),
        )
    refused = st.session_state.pop("bulk-refused", None)
    if refused:
        plain.warning(refused)
    _render_bulk_history(con)


def _apply_bulk(caption_filter: CaptionFilter, expected_count: int) -> None:
    """Submit callback: the choice and reason submitted with this click, applied to the
    filter's matches as the curator saw them (`expected_count` of them)."""
    choice = st.session_state.get("bulk-choice", "drop")
    reason = str(st.session_state.get("bulk-reason") or "").strip()
    actor = get_actor()
    if actor is None:
        st.session_state["bulk-refused"] = NAME_FIRST
        return
    if not reason:
        st.session_state["bulk-refused"] = "Type the reason for this bulk change first."
        return
    if expected_count > BULK_CONFIRM_OVER and not st.session_state.get("bulk-confirm"):
        st.session_state["bulk-refused"] = (
            f"Tick 'Yes, change all {expected_count:,} captions' first (it can be undone)."
        )
        return
    try:
        change = decisions.update_decisions_bulk(
            get_cursor(),
            caption_filter,
            decision=None if choice == "back to model" else choice,
            reason=reason,
            actor=actor,
            expected_count=expected_count,
        )
    except ValueError as exc:  # e.g. the matches changed since the page was drawn
        st.session_state["bulk-refused"] = str(exc)
        return
    st.session_state["bulk-reason"] = ""  # the next round needs its own reason
    st.session_state["bulk-confirm"] = False
    st.session_state["rr-message"] = change.describe()


def _render_bulk_history(con) -> None:
    history = decisions.list_bulk_history(con)
    if history.is_empty():
        return
    st.dataframe(history, hide_index=True)
    open_events = history.filter(pl.col("undone_by").is_null())["bulk_id"].to_list()
    if not open_events:
        return
    cols = st.columns([1, 3])
    bulk_id = cols[0].selectbox("Bulk event", open_events, key="bulk-undo-id")
    if cols[1].button(f"Undo bulk event {bulk_id}", key="bulk-undo"):
        actor = require_actor()
        if actor:
            try:
                change = decisions.undo_bulk_event(con, int(bulk_id), actor=actor)
                st.session_state["rr-message"] = change.describe()
                st.rerun()
            except ValueError as exc:
                plain.error(exc)


def render_last_change(con) -> None:
    """The curator's newest change of one caption, with its undo (found in the database)."""
    actor = get_actor()
    event = decisions.get_latest_change(con, actor=actor) if actor else None
    if event is None:
        return
    cols = st.columns([4, 1])
    after = event["decision_after"] or "back to the model"
    plain.caption(
        f"Your last change: caption {event['caption_id']}: {after} ({event['action']}, "
        f"event {event['event_id']})."
    )
    if cols[1].button("Undo it", key="rr-undo-last"):
        try:
            change = decisions.undo_decision_event(con, int(event["event_id"]), actor=actor)
            st.session_state["rr-message"] = "Undone: " + change.describe()
            st.rerun()
        except ValueError as exc:
            plain.error(exc)
