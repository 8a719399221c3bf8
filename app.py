"""Streamlit router: page config and navigation only. Start with `make run` (or `workbench run`)."""

from __future__ import annotations

import streamlit as st

PAGES = {
    "Data": [
        st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
        st.Page("pages/captions.py", title="Captions", icon=":material/notes:"),
        st.Page("pages/descriptions.py", title="Class descriptions", icon=":material/edit_note:"),
    ],
    "System": [
        st.Page("pages/jobs.py", title="Jobs", icon=":material/pending_actions:"),
    ],
}


def run() -> None:
    st.set_page_config(page_title="ImageNet curation workbench", layout="wide")
    st.navigation(PAGES).run()


run()
