"""Streamlit router: page config, navigation, and the sidebar field every page shares (the
curator's name). Start with `make run` (or `workbench run`)."""

from __future__ import annotations

import streamlit as st

from ui.widgets import render_actor_input

PAGES = {
    "Data": [
        st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
        st.Page("pages/captions.py", title="Captions", icon=":material/notes:"),
        st.Page("pages/descriptions.py", title="Class descriptions", icon=":material/edit_note:"),
    ],
    "Relevance": [
        st.Page(
            "pages/relevance_train.py", title="Train relevance", icon=":material/model_training:"
        ),
        st.Page(
            "pages/relevance_review.py", title="Review relevance", icon=":material/fact_check:"
        ),
    ],
    "Extension": [
        st.Page("pages/add_class.py", title="Add a class", icon=":material/add_circle:"),
        st.Page("pages/evaluation.py", title="Evaluation", icon=":material/bar_chart:"),
    ],
    "System": [
        st.Page("pages/job_list.py", title="Jobs", icon=":material/pending_actions:"),
    ],
}


def run() -> None:
    st.set_page_config(page_title="ImageNet curation workbench", layout="wide")
    page = st.navigation(PAGES)
    render_actor_input()  # here, so the field (and the name in it) exists on every page
    page.run()


run()
