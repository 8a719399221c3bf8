"""Captions: browse and search per-image text, per-class statistics, and import the
ImageNet-Captions file as a background job.

Dataset text (titles, descriptions, tags, file names, report examples) is shown only with
st.text, st.code and st.dataframe, never as Markdown or HTML. The filters, the search, the
page and the chosen record are in the URL, so a reload or a shared link restores them; a
click on a row opens that record. Widget keys (= URL parameters): `cap-class`, `cap-source`,
`cap-query`, `cap-page`, `cap-page-size`, `cap-view` (table or image grid), `cap-record`;
import: `cap-mode`, `cap-upload`, `cap-import-file`, `cap-import-source`, `cap-import-start`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
import streamlit as st

from curation import captions as cap
from curation.thumbnails import get_image_root
from db import captions as caption_db
from db.classes import list_classes
from db.storage import get_storage
from ui import embeddings_map, explore_panels, image_grid, plain
from ui.figures import make_captions_per_class_figure
from ui.resources import get_cursor, start_job
from ui.thumbnails import render_caption_image
from ui.widgets import (
    find_latest_job,
    get_int_in_url,
    render_job_status,
    select_in_url,
    set_int_in_url,
)

PAGE_SIZES = (25, 50, 100, 200)
VIEWS = ("Table", "Image grid")
UPLOAD, IMPORTS_FOLDER = "Upload", "A file in the storage root's imports folder"


def render() -> None:
    st.title("Captions")
    con = get_cursor()
    sources = caption_db.list_caption_source_counts(con)
    _render_license_notes(sources)
    browse, stats, importer, licenses, meaning, duplicates, embeddings = st.tabs(
        ["Browse and search", "Per-class statistics", "Import ImageNet-Captions", "Sources"]
        + ["Search by meaning", "Duplicate groups", "Embeddings map"],
        key="cap-tab",
        bind="query-params",
    )
    # Only the open tab does its work (a closed tab's tables and charts cost every click on
    # the open one its time); the filters are drawn always: the statistics tab uses them too.
    with browse:
        filters = _render_filters(con, sources)
        if browse.open:
            _render_results(con, filters)
    with stats:
        if stats.open:
            _render_stats(con, filters)
    with importer:
        if importer.open:
            _render_import(con)
    with licenses:
        if licenses.open:
            st.dataframe(sources, hide_index=True, width="stretch")
    with meaning:
        if meaning.open:
            explore_panels.render_search(con)
    with duplicates:
        if duplicates.open:
            explore_panels.render_duplicates(con)
    with embeddings:
        if embeddings.open:
            embeddings_map.render_map(con)


def _render_license_notes(sources: pl.DataFrame) -> None:
    if sources.is_empty():
        st.info("No caption source yet: run `workbench build-demo`, or import a file below.")
    for row in sources.iter_rows(named=True):
        st.text(f"{row['source']}: {row['n_captions']:,} captions, license: {row['license']}")
    if "imagenet-x" in sources["source"].to_list():
        st.info("ImageNet-X texts are licensed CC BY-NC 4.0: non-commercial use only.")


def _reset_page() -> None:
    st.session_state["cap-page"] = 1


def _render_filters(con, sources: pl.DataFrame) -> dict:
    classes = list_classes(con)
    names = dict(zip(classes["wnid"], classes["name"], strict=True))
    left, middle, right = st.columns([3, 2, 3])
    wnid = left.selectbox(
        "Class",
        [None, *classes["wnid"].to_list()],
        key="cap-class",
        on_change=_reset_page,
        format_func=lambda w: "All classes" if w is None else f"{names[w]} ({w})",
        bind="query-params",
    )
    source = middle.selectbox(
        "Source",
        [None, *sources["source"].to_list()],
        key="cap-source",
        on_change=_reset_page,
        format_func=lambda s: "All sources" if s is None else s,
        bind="query-params",
    )
    query = right.text_input(
        "Search title, description and tags (case-insensitive substring)",
        key="cap-query",
        on_change=_reset_page,
        bind="query-params",
        max_chars=500,
    )
    return {"wnid": wnid, "source": source, "query": query.strip() or None}


def _render_results(con, filters: dict) -> None:
    size = get_int_in_url("cap-page-size", 50, choices=PAGE_SIZES)
    page = get_int_in_url("cap-page", 1, min_value=1)
    frame, total = caption_db.list_captions(con, **filters, limit=size, offset=(page - 1) * size)
    n_pages = max(1, -(-total // size))
    if page > n_pages:  # the filters shrank the result: show its last page
        page = n_pages
        frame, total = caption_db.list_captions(
            con, **filters, limit=size, offset=(page - 1) * size
        )
    # Not bound to the URL by Streamlit (whose binding reads the link as it came, `1e999`
    # included): read through `get_int_in_url`, written back by `set_int_in_url`.
    for key, value in (("cap-page", page), ("cap-page-size", size)):
        if st.session_state.get(key) != value:
            st.session_state[key] = value
    left, right, _ = st.columns([2, 2, 4])
    left.number_input(f"Page (of {n_pages:,})", min_value=1, max_value=n_pages, key="cap-page")
    right.selectbox("Rows per page", PAGE_SIZES, key="cap-page-size", on_change=_reset_page)
    set_int_in_url("cap-page", st.session_state["cap-page"], default=1)
    set_int_in_url("cap-page-size", st.session_state["cap-page-size"], default=50)
    st.caption(f"{total:,} matching captions")
    if frame.is_empty():
        st.info("No captions match these filters.")
        return
    view = st.segmented_control(
        "Show", VIEWS, default=VIEWS[0], required=True, key="cap-view", bind="query-params"
    )
    if view == VIEWS[1]:
        image_grid.render_image_grid(
            con, frame, get_image_root(con), key="cap-grid", record_key="cap-record"
        )
        _render_record(con, frame)
        return
    event = st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="cap-table",
    )
    rows = event.selection.rows if event else []
    if rows:  # a click: the record's id goes to the widget and the URL
        chosen = int(frame["caption_id"][rows[0]])
        st.session_state["cap-record"] = chosen
        st.query_params["cap-record"] = str(chosen)
    _render_record(con, frame)


def _render_record(con, frame: pl.DataFrame) -> None:
    st.subheader("One record in full")
    labels = dict(zip(frame["caption_id"], frame["filename"], strict=True))
    ids = frame["caption_id"].to_list()
    # The URL holds the record's id (not its label), so a reload or a shared link reopens it.
    caption_id = select_in_url(
        "Record (or click a row above)",
        ids,
        key="cap-record",
        format_func=lambda i: f"{i} · {labels.get(i, '')}",
    )
    record = caption_db.get_caption(con, int(caption_id)) if caption_id is not None else None
    if record is None:
        return
    text, image = st.columns([3, 2])
    with text:
        for field in ("caption_id", "source", "filename", "wnid", "title", "description"):
            st.caption(field)
            st.text(str(record[field]) if record[field] != "" else "(empty)")
        st.caption(f"tags ({len(record['tags'])})")
        st.code("\n".join(record["tags"]) or "(none)", language=None)
    with image:
        render_caption_image(get_image_root(con), record["filename"], record["wnid"])


def _render_stats(con, filters: dict) -> None:
    per_class = caption_db.list_caption_class_counts(con, filters["source"])
    if per_class.is_empty():
        st.info("No captions stored yet.")
        return
    if filters["wnid"] is not None:
        shown = per_class.filter(pl.col("wnid") == filters["wnid"])
        st.caption(f"Class {filters['wnid']}")
    else:
        shown = (
            per_class.group_by("source")
            .agg(
                pl.len().alias("n_classes"),
                pl.sum("n_captions", "n_title", "n_description", "n_tags"),
            )
            .sort("source")
        )
        st.caption("All classes")
    st.dataframe(shown.with_columns(_presence_columns()), hide_index=True, width="stretch")
    plain.plotly_chart(make_captions_per_class_figure(per_class), width="stretch")


def _presence_columns() -> list[pl.Expr]:
    """Share of captions with a non-empty title / description / tags, in percent."""
    return [
        (100 * pl.col(f"n_{field}") / pl.col("n_captions")).round(1).alias(f"% with {field}")
        for field in ("title", "description", "tags")
    ]


def _render_import(con) -> None:
    st.write(
        "Import the official ImageNet-Captions JSON (a list of records with filename, wnid, "
        "title, description, tags), or any file of that shape under another source name. "
        "Bad records are reported, never silently dropped; importing the same file again "
        "changes nothing."
    )
    mode = st.radio("File", [UPLOAD, IMPORTS_FOLDER], horizontal=True, key="cap-mode")
    path, upload = "", None
    if mode == UPLOAD:
        upload = st.file_uploader("JSON file", type=["json"], key="cap-upload")
    else:
        path = _pick_import_file(con)
    source = st.text_input("Source name", value=cap.DEFAULT_SOURCE, key="cap-import-source")
    if st.button("Start import", key="cap-import-start", type="primary"):
        _start_import(con, path=path.strip(), upload=upload, source=source.strip())
    job_id = find_latest_job("ingest_captions")
    job = render_job_status(job_id, key="cap-import") if job_id is not None else None
    _render_latest_report(con, job)


def _pick_import_file(con) -> str:
    """A caption file from the storage root's imports/ folder (the page takes no typed server
    path: a curator cannot make the server read a file an admin did not put there)."""
    folder = get_storage(con).imports
    files = cap.list_import_files(folder)
    plain.caption(
        f"Files too large to upload (the official ImageNet-Captions JSON): put them into {folder} "
        "on the server, or import any path with `workbench ingest-captions FILE`."
    )
    if not files:
        plain.info("No JSON file in the imports folder yet.")
        return ""
    names = {path.name: path for path in files}
    name = st.selectbox("File in the imports folder", list(names), key="cap-import-file")
    return str(names[name])


def _start_import(con, *, path: str, upload, source: str) -> None:
    try:
        cap.check_caption_source_name(con, source)
        if upload is None and not path:
            raise ValueError("Upload a JSON file, or pick one from the imports folder.")
        if upload is not None:
            spec = cap.IngestCaptionsSpec(
                path=_save_upload(upload),
                source=source,
                display_name=upload.name,
                remove_file_after=True,
            )
        else:
            spec = cap.IngestCaptionsSpec(path=str(cap.check_caption_file(path)), source=source)
        start_job(spec)
    except (ValueError, FileNotFoundError) as exc:
        st.error("The import was not started:")
        st.text(str(exc))
        return
    st.rerun()


def _save_upload(upload) -> str:
    """Copy an uploaded file to a temporary file the job reads (and removes when done), in the
    storage root's tmp/ (product-owned: what a killed import leaves is removed at the next
    start, see `ui.resources`)."""
    folder = get_storage(get_cursor()).tmp
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "wb", suffix=".json", prefix="captions-", delete=False, dir=folder
    ) as f:
        f.write(upload.getbuffer())
    try:
        return str(cap.check_caption_file(f.name, display_name=upload.name))
    except ValueError:
        Path(f.name).unlink(missing_ok=True)
        raise


def _render_latest_report(con, job: dict | None) -> None:
    """The report of the import the latest job made (or, without one, the latest import)."""
    st.subheader("Latest ingest report")
    if job is not None and job["status"] != "succeeded":
        if job["status"] in ("queued", "running"):
            st.info("The import is running; its report appears here when it is done.")
        return
    ingest_id = (job["result"] or {}).get("ingest_id") if job else None
    run = caption_db.get_latest_ingest_run(con, ingest_id=ingest_id)
    if run is None:
        st.info("No ingest has run yet.")
        return
    report = run["report"]
    columns = st.columns(6)
    for column, (label, key) in zip(
        columns,
        [
            ("Records", "n_records"),
            ("Inserted", "n_inserted"),
            ("Updated", "n_updated"),
            ("Unchanged", "n_unchanged"),
            ("Invalid", "n_invalid"),
            ("Unknown wnid", "n_unknown_wnid"),
        ],
        strict=True,
    ):
        column.metric(label, f"{int(run[key]):,}")
    st.code(cap.format_ingest_report(report), language=None)
    examples = report.get("invalid", {}).get("examples", [])
    if examples:
        st.caption(
            "Examples of invalid records. index: the record's position in the file's list, "
            "counting from 0 (the first record is 0); an empty cell (None): the field was "
            "missing from the record."
        )
        st.dataframe(pl.DataFrame(examples), hide_index=True, width="stretch")


render()
