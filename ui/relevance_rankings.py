"""The review page's rankings: two lists with their reasons (wrong class, with the suggested
class and how sure; no class content) and the paper's lowest P(own); picked captions in full,
accepting the suggested class for one or many picked captions (undoable), and the relabel
history with its undo.

Caption text is data: shown with st.dataframe / st.text; messages go through `ui.plain`.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from curation.relevance import relabels
from curation.relevance.rules import compute_ranking
from ui import plain, relevance_panels
from ui.keyboard_review import render_keyboard_review
from ui.widgets import require_actor

TABLE, ONE_BY_ONE = "Table", "One by one (keyboard)"

LISTS = {
    "Wrong class": "wrong-class",
    "No class content": "no-content",
    "Lowest P(own) (the paper's)": "paper",
}
REASONS = {
    "wrong-class": "Filed under the wrong class? Highest suspect first, with the class the model "
    "suggests and how sure it is (the suggested class's share of the probability).",
    "no-content": "Says nothing about any class (camera, place, date only)? Highest suspect "
    "first: the model's probabilities are flat and no class fires.",
    "paper": "The paper's signal: lowest P(own class) first (mixes both questions).",
}
COLUMNS = {
    "wrong-class": ("suspect_wrong_class", "suggested", "suggested_share", "p_own"),
    "no-content": ("suspect_no_content", "p_own", "suggested", "p_suggested"),
    "paper": ("p_own", "suggested", "p_suggested"),
}


def render_rankings(con, version: int, decided: pl.DataFrame, labels: dict, root) -> None:
    """The three lists (picked in the URL as `rank`), each over every class."""
    names = list(LISTS)
    chosen = st.segmented_control(
        "List", names, default=names[0], required=True, key="rank", bind="query-params"
    )
    kind = LISTS[chosen or names[0]]
    cols = st.columns([1, 1, 3])
    n = cols[0].number_input("Show", 10, 1000, 50, 10, key="rr-wrong-n")
    reviewed = cols[1].checkbox("Include reviewed", key="rr-wrong-reviewed")
    ranked = compute_ranking(decided, kind=kind, include_reviewed=reviewed)
    cols[2].caption(f"{REASONS[kind]} {ranked.height:,} captions not reviewed by a person yet.")
    if kind != "paper" and decided["suspect_wrong_class"].is_null().all():
        plain.info("These scores predate the two suspect scores: score the captions again.")
    if render_view_choice(key="rr-wrong-view") == ONE_BY_ONE:
        shown = relevance_panels.with_class_names(ranked.head(int(n)), labels)
        render_keyboard_review(con, shown, key=f"rr-kb-{kind}", root=root)
    else:
        _render_table(con, version, ranked.head(int(n)), labels, kind=kind, root=root)
    _render_relabel_history(con)


def render_view_choice(*, key: str) -> str:
    """Table, or one caption at a time with keys (in the URL as `key`)."""
    views = [TABLE, ONE_BY_ONE]
    chosen = st.segmented_control(
        "View", views, default=TABLE, required=True, key=key, bind="query-params"
    )
    return chosen or TABLE


def _render_table(con, version: int, rows: pl.DataFrame, labels: dict, *, kind, root) -> None:
    shown = relevance_panels.with_class_names(rows, labels)
    event = st.dataframe(
        shown.select("caption_id", "class", *COLUMNS[kind], "decision", "title", "description"),
        hide_index=True,
        on_select="rerun",
        selection_mode="multi-row",
        key="rr-wrong",
    )
    # a selection can outlive its rows (a relabel or decision takes them off the list)
    picked = [r for r in (event.selection.rows if event is not None else []) if r < shown.height]
    if not picked:
        st.caption(
            "Click rows to open a caption or to accept the suggested class for several at once."
        )
        return
    picked_rows = shown[picked]
    _render_accept(con, version, picked_rows)
    first = picked_rows.row(0, named=True)
    relevance_panels.render_caption_detail(con, first, root=root, key="rr-wrong")


def _render_accept(con, version: int, picked: pl.DataFrame) -> None:
    """Accept the suggested class for the picked captions whose suggestion is another class."""
    movable = picked.filter(pl.col("suggested_wnid") != pl.col("wnid"))
    if movable.is_empty():
        plain.caption("The model suggests each picked caption's own class: nothing to accept.")
        return
    cols = st.columns([3, 1])
    reason = cols[0].text_input("Reason for the relabel (required)", key="rr-accept-reason")
    one = movable.row(0, named=True)
    label = (
        f"Move to {one['suggested']}"
        if movable.height == 1
        else f"Accept the suggested class for {movable.height}"
    )
    if cols[1].button(label, key="rr-accept", disabled=not reason.strip()):
        actor = require_actor()
        if actor:
            try:
                change = relabels.accept_suggested_classes(
                    con,
                    movable["caption_id"].to_list(),
                    model_version=version,
                    reason=reason,
                    actor=actor,
                )
                st.session_state["rr-message"] = change.describe()
                st.rerun()
            except ValueError as exc:
                plain.error(exc)


def _render_relabel_history(con) -> None:
    history = relabels.list_relabel_history(con, limit=50)
    if history.is_empty():
        return
    with st.expander(f"Relabels ({history.height} newest events)"):
        st.dataframe(history, hide_index=True)
        newest = history.row(0, named=True)
        what = (
            {"batch_id": int(newest["batch_id"])}
            if newest["batch_id"] is not None
            else {"event_id": int(newest["event_id"])}
        )
        name = "batch" if "batch_id" in what else "event"
        if st.button(f"Undo relabel {name} {next(iter(what.values()))}", key="rr-relabel-undo"):
            actor = require_actor()
            if actor:
                try:
                    change = relabels.undo_relabel(con, actor=actor, **what)
                    st.session_state["rr-message"] = change.describe()
                    st.rerun()
                except ValueError as exc:
                    plain.error(exc)
