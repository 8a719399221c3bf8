"""A change a colleague made after this tab showed it: remember what this tab saw, and when
a save is refused (`decisions.ChangedMeanwhile`), show theirs beside mine with "Keep theirs"
and "Apply mine anyway" (which replaces theirs, recorded as a new history event).

Used for relevance decisions and thresholds; class descriptions have their own diff view
(`pages/descriptions.py`). Texts are data: shown with st.text and `ui.plain`.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from curation.relevance.decisions import NOT_CHECKED, ChangedMeanwhile
from ui import plain


def get_shown_event(key: str) -> int | None | str:
    """The history event the previous run of this widget showed (NOT_CHECKED: none yet)."""
    return st.session_state.get(f"{key}-shown-event", NOT_CHECKED)


def set_shown_event(key: str, event_id: int | None) -> None:
    """Record the history event this run shows (call after any save of this run)."""
    st.session_state[f"{key}-shown-event"] = event_id


def remember_conflict(key: str, exc: ChangedMeanwhile, *, mine: str, retry: dict) -> None:
    """Keep a refused save for `render_conflict`: the error, my value, how to retry."""
    st.session_state[f"{key}-conflict"] = {
        "message": str(exc),
        "theirs": f"{exc.their_value} by {exc.their_actor}: {exc.their_reason}",
        "mine": mine,
        "event_id": exc.event_id,
        "retry": retry,
    }


def render_conflict(key: str, apply_mine: Callable[[dict, int], str]) -> None:
    """The refused save, if any, with its two ways out.

    Args:
        apply_mine: (retry, seen_event) -> message; writes mine over the event now newest.
    """
    conflict = st.session_state.get(f"{key}-conflict")
    if not conflict:
        return
    plain.warning(conflict["message"])
    st.text(f"Theirs: {conflict['theirs']}\nYours:  {conflict['mine']}")
    theirs, mine = st.columns(2)
    if theirs.button("Keep theirs", key=f"{key}-conflict-theirs"):
        del st.session_state[f"{key}-conflict"]
        st.rerun()
    if mine.button("Apply mine anyway", key=f"{key}-conflict-mine"):
        del st.session_state[f"{key}-conflict"]
        try:
            st.session_state["rr-message"] = apply_mine(conflict["retry"], conflict["event_id"])
        except ChangedMeanwhile as again:
            remember_conflict(key, again, mine=conflict["mine"], retry=conflict["retry"])
        except (ValueError, PermissionError) as exc:
            st.session_state["rr-error"] = str(exc)
        st.rerun()
