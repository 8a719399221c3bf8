"""Keyboard review: one caption of a review list at a time, with keys for next / previous,
keep, drop (with the reason typed last), undo and open image.

The keys are Streamlit's own button shortcuts (`st.button(..., shortcut=...)`, shown on
each button; they do not fire while the cursor is in a text box). Keep, drop, undo and the
moves run as button callbacks, so the decision is stored (one transaction) before the script
draws the next caption. The caption shown is held by id in `st.session_state[f"{key}-at"]`
(a decided caption leaves a list that hides reviewed ones: its successor is remembered
before the change). A decision names the history event shown with the caption: a colleague's
change made meanwhile is refused, not overwritten (press the key again to replace it).
Messages go through `ui.plain`; caption text is shown with st.text.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from curation.relevance import decisions
from ui import conflicts, plain, relevance_panels
from ui.resources import get_cursor
from ui.thumbnails import render_caption_image
from ui.widgets import NAME_FIRST, get_actor

# (action, button label, shortcut): the shortcut is shown on the button and in the key line.
KEYS = (
    ("previous", "Previous", "Left"),
    ("next", "Next", "Right"),
    ("keep", "Keep", "K"),
    ("drop", "Drop", "D"),
    ("undo", "Undo", "U"),
    ("open", "Open image", "O"),
)
KEY_LINE = "Keys: ← previous · → next · K keep · D drop · U undo · O open image"
FULL_IMAGE_PX = 1024


def render_keyboard_review(con, rows: pl.DataFrame, *, key: str, root) -> None:
    """Review `rows` (in list order, with `class` and `suggested` names) one at a time."""
    ids = rows["caption_id"].to_list()
    if not ids:
        st.info("Nothing left to review in this list.")
        return
    current = st.session_state.get(f"{key}-at")
    if current not in ids:
        current = ids[0]
        st.session_state[f"{key}-at"] = current
    position = ids.index(current)
    if refused := st.session_state.pop(f"{key}-refused", None):
        plain.warning(refused)
    st.text_input(
        "Reason for keep / drop (typed once, used until you change it)",
        key=f"{key}-reason",
        max_chars=500,
    )
    buttons = st.columns(len(KEYS))
    pressed = None
    for column, (action, label, shortcut) in zip(buttons, KEYS, strict=True):
        clicked = column.button(
            label,
            key=f"{key}-{action}",
            shortcut=shortcut,
            on_click=None if action == "open" else _act,
            args=None if action == "open" else (key, ids, action),
            disabled=(action == "previous" and position == 0)
            or (action == "next" and position == len(ids) - 1),
            width="stretch",
        )
        pressed = action if clicked else pressed
    st.caption(KEY_LINE)
    row = rows.row(position, named=True)
    shown_event = decisions.get_seen_decision_event(con, int(current))
    conflicts.set_shown_event(f"{key}-{current}", shown_event)
    plain.caption(f"Caption {position + 1} of {len(ids)} in this list (id {current}).")
    if pressed == "open":
        _open_image(root, row)
    relevance_panels.render_caption_detail(con, row, root=root, key=key, decision_form=False)


@st.dialog("Image", width="large")
def _open_image(root, row: dict) -> None:
    plain.caption(f"{row['filename']} ({row['class']})")
    render_caption_image(root, row["filename"], row["wnid"], width=900, max_px=FULL_IMAGE_PX)


def _act(key: str, ids: list[int], action: str) -> None:
    """Button callback: move, or store a decision (then show the next caption), or undo."""
    current = st.session_state.get(f"{key}-at", ids[0])
    position = ids.index(current) if current in ids else 0
    if action in ("previous", "next"):
        step = -1 if action == "previous" else 1
        st.session_state[f"{key}-at"] = ids[min(max(position + step, 0), len(ids) - 1)]
        return
    actor = get_actor()
    if actor is None:
        st.session_state[f"{key}-refused"] = NAME_FIRST
        return
    try:
        if action == "undo":
            _undo(key, actor)
            return
        reason = str(st.session_state.get(f"{key}-reason") or "").strip()
        if not reason:
            st.session_state[f"{key}-refused"] = "Type the reason once (above the keys) first."
            return
        change = decisions.update_decision(
            get_cursor(),
            int(current),
            decision=action,
            reason=reason,
            actor=actor,
            seen_event=conflicts.get_shown_event(f"{key}-{current}"),
        )
    except (ValueError, PermissionError) as exc:
        st.session_state[f"{key}-refused"] = str(exc)
        return
    st.session_state["rr-message"] = change.describe()
    if position + 1 < len(ids):
        st.session_state[f"{key}-at"] = ids[position + 1]


def _undo(key: str, actor: str) -> None:
    """Undo this curator's newest change of one caption and show that caption again."""
    con = get_cursor()
    event = decisions.get_latest_change(con, actor=actor)
    if event is None:
        st.session_state[f"{key}-refused"] = "You have no change to undo."
        return
    change = decisions.undo_decision_event(con, int(event["event_id"]), actor=actor)
    st.session_state["rr-message"] = "Undone: " + change.describe()
    st.session_state[f"{key}-at"] = int(event["caption_id"])
