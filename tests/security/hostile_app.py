"""A test-only Streamlit script: hostile strings through every `ui.plain` helper and through
`ui.widgets.render_job_status` (served by `test_security_rendering.py`, never by the app).

Inputs from the environment: HOSTILE_STRINGS (a JSON list), HOSTILE_JOB_ID (a job whose
message and error are hostile), WORKBENCH_DB (the database holding that job). With
`?mode=raise` the script raises instead, to show what the browser gets for an uncaught error.
"""

from __future__ import annotations

import json
import os

import streamlit as st

from ui import plain
from ui.widgets import render_job_status


def secret_function_name_in_the_traceback() -> None:
    raise RuntimeError("secret-exception-message: /srv/private/path.duckdb")


if st.query_params.get("mode") == "raise":
    secret_function_name_in_the_traceback()

hostile = json.loads(os.environ["HOSTILE_STRINGS"])
for i, text in enumerate(hostile):
    with st.container(key=f"hostile-{i}"):
        plain.error(text)
        plain.warning(text)
        plain.info(text)
        plain.success(text)
        plain.caption(text)
        plain.progress(0.5, text)
        st.button(plain.label(text), key=f"button-{i}")
        st.checkbox(plain.label(text), key=f"checkbox-{i}")
        st.text_input(plain.label(text), key=f"input-{i}")
        st.selectbox("choice", [text], key=f"select-{i}")  # options are plain text already
        st.radio("option", [text], format_func=plain.label, key=f"radio-{i}")
        with st.expander(plain.label(text)):
            st.text(text)
        st.metric(plain.label(text), 1)
if hostile:
    plain.toast(hostile[0])
    if hasattr(plain, "chart_text"):  # plotly labels read a few HTML tags
        import plotly.graph_objects as go

        figure = go.Figure(go.Bar(x=[plain.chart_text(t) for t in hostile], y=[1] * len(hostile)))
        figure.update_layout(title=plain.chart_text(hostile[0]))
        st.plotly_chart(figure, key="hostile-chart")
with st.container(key="hostile-job"):
    render_job_status(int(os.environ["HOSTILE_JOB_ID"]), key="hostile-job")
st.text("hostile page rendered")
