"""Overview: what is loaded, from which sources under which licenses, and how to bring more."""

from __future__ import annotations

import polars as pl
import streamlit as st

from db import jobs as job_db
from db.connect import resolve_db_path
from db.overview import get_store_counts, list_captions_per_class, list_source_summary
from ui import plain
from ui.figures import make_captions_per_class_figure, make_class_extremes_figure
from ui.resources import get_cursor

BRING_CAPTIONS_HELP = """
The embedded default uses the ImageNet-X texts (about 49 short human-written notes per
class). To work on the real ImageNet-Captions metadata (Fang et al. 2022; a JSON list of
448,896 records with `filename`, `wnid`, `title`, `description`, `tags`, 131 MB):

1. Get `imagenet_captions.json` from the ImageNet-Captions release.
2. Either run `.venv/bin/workbench ingest-captions imagenet_captions.json`
   (stop the app first: one process owns the database file), or use
   **Captions → Import** in this app, which runs the import as a background job.
3. Bad records are reported with their index, field and reason; nothing is dropped silently,
   and importing the same file again changes nothing.
"""


def render() -> None:
    st.title("ImageNet curation workbench")
    plain.caption(f"Database: {resolve_db_path()}")  # a path is data: shown as typed
    con = get_cursor()
    _render_counts(get_store_counts(con))
    st.subheader("Sources and licenses")
    sources = list_source_summary(con)
    if sources.is_empty():
        st.warning("No data yet: run `make run` (or `workbench build-demo`) to build the default.")
    else:
        st.dataframe(sources, hide_index=True, width="stretch")
        if "imagenet-x" in sources["source"].to_list():
            st.info(
                "ImageNet-X annotations are licensed CC BY-NC 4.0: non-commercial use only. "
                "Wiktionary definitions are CC BY-SA."
            )
    _render_distribution(list_captions_per_class(con))
    with st.expander("How to bring the real ImageNet-Captions file", expanded=False):
        st.markdown(BRING_CAPTIONS_HELP)
    _render_recent_jobs(con)


def _render_counts(counts: dict[str, int]) -> None:
    columns = st.columns(5)
    columns[0].metric("Classes", f"{counts['classes']:,}", help=f"{counts['added_classes']} added")
    columns[1].metric("Captions", f"{counts['captions']:,}")
    columns[2].metric("Classes with captions", f"{counts['classes_with_captions']:,}")
    columns[3].metric("Active descriptions", f"{counts['active_descriptions']:,}")
    columns[4].metric("Description edits", f"{counts['description_edits']:,}")


def _render_distribution(per_class: pl.DataFrame) -> None:
    st.subheader("Captions per class")
    if per_class["n_captions"].sum() == 0:
        st.info("No captions stored yet.")
        return
    plain.plotly_chart(make_captions_per_class_figure(per_class), width="stretch")
    totals = per_class.group_by("wnid", "name").agg(pl.col("n_captions").sum())
    plain.plotly_chart(make_class_extremes_figure(totals), width="stretch")


def _render_recent_jobs(con) -> None:
    jobs = job_db.list_jobs(con, limit=5)
    if not jobs.is_empty():
        st.subheader("Recent jobs")
        st.dataframe(
            jobs.select("job_id", "kind", "status", "progress", "message"), hide_index=True
        )


render()
