"""Streamlit router: page config, navigation, sign-in (team mode) or the sidebar field every
page shares (the curator's name, local mode). Start with `make run` (or `workbench run`)."""

from __future__ import annotations

import streamlit as st

from ui.auth import gate
from ui.resources import page_run_slot, timed_page_run
from ui.widgets import render_actor_input, render_busy

# No page icons: Streamlit's ":material/...:" icons load a font from the internet on every
# page (the workbench must work offline), and emoji show as empty boxes without an emoji font.
PAGES = {
    "Data": [
        st.Page("pages/overview.py", title="Overview", default=True),
        st.Page("pages/captions.py", title="Captions"),
        st.Page("pages/descriptions.py", title="Class descriptions"),
    ],
    "Relevance": [
        st.Page("pages/relevance_train.py", title="Train relevance"),
        st.Page("pages/relevance_review.py", title="Review relevance"),
    ],
    "Extension": [
        st.Page("pages/add_class.py", title="Add a class"),
        st.Page("pages/evaluation.py", title="Evaluation"),
    ],
    "System": [
        st.Page("pages/job_list.py", title="Jobs"),
        st.Page("pages/people.py", title="People"),
    ],
}


def run() -> None:
    st.set_page_config(page_title="ImageNet curation workbench", layout="wide")
    page = st.navigation(PAGES)
    gate()  # team mode: nothing below runs until the person is signed in
    render_actor_input()  # here, so the field (and the name in it) exists on every page
    with page_run_slot() as admitted:  # past capacity: a "busy" message, never a hang
        if admitted:
            with timed_page_run(page.url_path):
                page.run()
        else:
            render_busy()


run()
