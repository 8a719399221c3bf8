"""Review relevance: overview, the dataset-wide "most likely wrong" list, a class's captions,
a caption in full (with its image) and a person's keep/drop with undo, bulk keep/drop of a
filter's matches as one undoable event, thresholds kept per model version, the export (server
folder and zip download) and the image folder.

The model version, class, tab and filters are in the URL. Caption text is data: shown with
st.text / st.dataframe, messages through `ui.plain`.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from curation.relevance import decisions
from curation.relevance.export import (
    compute_folder_zip,
    export_curated_set,
    get_decided_captions,
)
from curation.relevance.rules import compute_class_summary, compute_most_likely_wrong
from curation.relevance.specs import CaptionFilter
from curation.thumbnails import get_image_root, update_image_root
from db import relevance as relevance_db
from db import relevance_decisions as decision_db
from db.classes import list_classes
from ui import plain
from ui.relevance_figures import make_class_decision_figure, make_score_histogram_figure
from ui.resources import get_cursor
from ui.thumbnails import render_caption_image
from ui.widgets import require_actor

TABS = ["Overview", "Most likely wrong", "Captions of a class", "Bulk", "Thresholds", "Export"]
TABS.append("Images")
ANY = "(any)"
TABLE_COLUMNS = ("caption_id", "class", "p_own", "suggested", "p_suggested", "decision")


def _pick_model_version(con) -> dict | None:
    versions = relevance_db.list_model_versions(con).filter(pl.col("n_scores") > 0)
    if versions.is_empty():
        st.info("No scores yet: train a model and score the captions on the training page.")
        return None
    rows = {int(r["model_version"]): r for r in versions.iter_rows(named=True)}
    default = relevance_db.get_default_model_version(con)
    options = list(rows)
    version = st.selectbox(
        "Model version",
        options,
        index=options.index(default) if default in options else 0,
        format_func=lambda v: (
            f"version {v} (run {rows[v]['run_id']}, {rows[v]['mode']}, "
            f"{rows[v]['run_status']}, {rows[v]['n_scores']} scores)"
        ),
        key="version",
        bind="query-params",
    )
    return rows[int(version)]


def _class_labels(con) -> dict[str, str]:
    classes = list_classes(con)
    return {w: f"{n} ({w})" for w, n in classes.select("wnid", "name").iter_rows()}


def _describe_scores(version: dict, decided: pl.DataFrame) -> None:
    oos = int(decided["out_of_sample"].fill_null(False).sum())
    if version["mode"] == "frozen":
        how = "cross-fitted: each caption was scored by a head that did not train on it"
    else:
        how = "fine-tune mode: test-split captions are out of sample, training captions are not"
    plain.info(f"{oos:,} of {decided.height:,} scores are out of sample ({how}).")


def _render_threshold(con, version: int) -> float:
    stored, per_class = decisions.get_thresholds(con, version)
    key = f"rr-threshold-{version}"
    cols = st.columns([4, 1])
    value = cols[0].slider(
        "Global threshold on P(own class)", 0.0, 1.0, stored, 0.01, key=key, persist_state="session"
    )
    if value != stored:
        plain.caption(
            f"Showing {value:.2f}; saved for this version: {stored:.2f} (the export uses it)."
        )
        if cols[1].button("Save threshold", key="rr-threshold-save"):
            actor = require_actor()
            if actor:
                decisions.update_global_threshold(
                    con,
                    model_version=version,
                    threshold=value,
                    reason="set on the review page",
                    actor=actor,
                )
                st.rerun()
    return value


def _render_overview(decided: pl.DataFrame, labels: dict, threshold: float) -> None:
    cols = st.columns(4)
    cols[0].metric("Scored", decided.height)
    cols[1].metric("Kept", int((decided["decision"] == "keep").sum()))
    cols[2].metric("Dropped", int((decided["decision"] == "drop").sum()))
    cols[3].metric("Decided by a person", int((decided["decided_by"] == "human").sum()))
    st.plotly_chart(make_score_histogram_figure(decided, threshold=threshold), key="rr-hist")
    summary = compute_class_summary(decided).with_columns(
        pl.col("wnid")
        .replace_strict({w: plain.chart_text(t) for w, t in labels.items()}, default=pl.col("wnid"))
        .alias("label")
    )
    st.caption("Classes with the largest share dropped (30 of them)")
    st.plotly_chart(make_class_decision_figure(summary), key="rr-classes")


def _with_class_names(frame: pl.DataFrame, labels: dict) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("wnid").replace_strict(labels, default=pl.col("wnid")).alias("class"),
        pl.col("suggested_wnid")
        .replace_strict(labels, default=pl.col("suggested_wnid"))
        .alias("suggested"),
    )


def _render_caption_table(con, rows: pl.DataFrame, labels: dict, *, key: str, root) -> None:
    """A table with single-row selection; the picked caption in full below it."""
    shown = _with_class_names(rows, labels)
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
    _render_caption_detail(con, shown.row(picked[0], named=True), root=root, key=key)


def _render_caption_detail(con, row: dict, *, root, key: str) -> None:
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
    _render_decision_form(con, int(row["caption_id"]), key=key)


def _render_decision_form(con, caption_id: int, *, key: str) -> None:
    cols = st.columns([1, 3, 1])
    choice = cols[0].radio("Decision", ["keep", "drop", "back to model"], key=f"{key}-choice")
    reason = cols[1].text_input("Reason (required)", key=f"{key}-reason")
    if cols[2].button("Apply", key=f"{key}-apply", disabled=not reason.strip()):
        actor = require_actor()
        if actor:
            decision = None if choice == "back to model" else choice
            change = decisions.update_decision(
                con, caption_id, decision=decision, reason=reason, actor=actor
            )
            st.session_state["rr-message"] = change.describe()
            st.rerun()
    history = decisions.list_decision_history(con, caption_id=caption_id)
    if history.is_empty():
        return
    st.dataframe(history, hide_index=True)
    latest = int(history["event_id"][0])
    if st.button(f"Undo event {latest}", key=f"{key}-undo"):
        actor = require_actor()
        if actor:
            change = decisions.undo_decision_event(con, latest, actor=actor)
            st.session_state["rr-message"] = "Undone: " + change.describe()
            st.rerun()


def _render_most_likely_wrong(con, decided, labels, root) -> None:
    cols = st.columns([1, 1, 2])
    n = cols[0].number_input("Show", 10, 1000, 50, 10, key="rr-wrong-n")
    reviewed = cols[1].checkbox("Include reviewed", key="rr-wrong-reviewed")
    ranked = compute_most_likely_wrong(decided, include_reviewed=reviewed)
    cols[2].caption(
        "Every class, lowest P(own class) first, with the class the model suggests instead "
        f"({ranked.height:,} captions not reviewed by a person yet)."
    )
    _render_caption_table(con, ranked.head(int(n)), labels, key="rr-wrong", root=root)


def _render_class_captions(con, decided, labels, root) -> None:
    wnids = sorted(set(decided["wnid"].to_list()))
    wnid = st.selectbox(
        "Class", wnids, format_func=lambda w: labels.get(w, w), key="wnid", bind="query-params"
    )
    rows = decided.filter(pl.col("wnid") == wnid).sort("p_own")
    plain.caption(f"{rows.height} scored captions, lowest P(own class) first.")
    _render_caption_table(con, rows, labels, key="rr-class-table", root=root)


def _bulk_filter(version: int, decided, labels) -> CaptionFilter:
    cols = st.columns([2, 1, 2])
    wnids = [ANY, *sorted(set(decided["wnid"].to_list()))]
    wnid = cols[0].selectbox(
        "Class", wnids, format_func=lambda w: labels.get(w, w), key="bulk-wnid", bind="query-params"
    )
    sources = [ANY, *sorted(set(decided["source"].to_list()))]
    source = cols[1].selectbox("Source", sources, key="bulk-source", bind="query-params")
    search = cols[2].text_input("Text contains", key="q", bind="query-params")
    cols = st.columns([3, 1])
    low, high = cols[0].slider("P(own class) between", 0.0, 1.0, (0.0, 1.0), 0.01, key="bulk-p")
    other = cols[1].checkbox("Model suggests another class", key="bulk-other")
    return CaptionFilter(
        model_version=version,
        wnid=None if wnid == ANY else wnid,
        source=None if source == ANY else source,
        search=search.strip(),
        p_min=low if low > 0.0 else None,
        p_max=high if high < 1.0 else None,
        suggested_other=other,
    )


def _render_bulk(con, version: int, decided, labels) -> None:
    caption_filter = _bulk_filter(version, decided, labels)
    ids = decisions.list_filtered_caption_ids(con, caption_filter)
    plain.caption(f"{len(ids):,} captions match: {caption_filter.describe()}.")
    if ids:
        sample = decided.filter(pl.col("caption_id").is_in(ids[:200]))
        st.dataframe(
            _with_class_names(sample, labels).select(*TABLE_COLUMNS, "title"), hide_index=True
        )
    cols = st.columns([1, 3, 1])
    choice = cols[0].radio("Set", ["drop", "keep", "back to model"], key="bulk-choice")
    reason = cols[1].text_input("Reason (required)", key="bulk-reason")
    apply = cols[2].button(
        f"Apply to {len(ids):,}", key="bulk-apply", disabled=not ids or not reason.strip()
    )
    if apply and (actor := require_actor()):
        change = decisions.update_decisions_bulk(
            con,
            caption_filter,
            decision=None if choice == "back to model" else choice,
            reason=reason,
            actor=actor,
            expected_count=len(ids),
        )
        st.session_state["rr-message"] = change.describe()
        st.rerun()
    _render_bulk_history(con)


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


def _render_thresholds(con, version: int, labels: dict) -> None:
    thresholds = decision_db.list_version_thresholds(con, version).with_columns(
        pl.col("wnid").replace("", "(global)")
    )
    if not thresholds.is_empty():
        st.dataframe(thresholds, hide_index=True)
    wnid = st.selectbox("Class", sorted(labels), format_func=labels.get, key="rr-th-class")
    cols = st.columns([1, 3, 1, 1])
    value = cols[0].number_input("Threshold", 0.0, 1.0, 0.5, 0.05, key="rr-th")
    reason = cols[1].text_input("Reason (required)", key="rr-th-reason")
    for column, label, threshold in ((cols[2], "Set", value), (cols[3], "Clear", None)):
        if column.button(label, key=f"rr-th-{label.lower()}", disabled=not reason.strip()):
            actor = require_actor()
            if actor:
                decisions.update_class_threshold(
                    con,
                    wnid,
                    model_version=version,
                    threshold=threshold,
                    reason=reason,
                    actor=actor,
                )
                st.rerun()
    with st.expander("Threshold history of this model version"):
        st.dataframe(decision_db.list_threshold_events(con, model_version=version), hide_index=True)


def _render_export(con, version: int) -> None:
    stored = decisions.get_thresholds(con, version)[0]
    plain.caption(f"Uses this version's saved thresholds (global {stored:.2f}).")
    out_dir = st.text_input(
        "Export folder (on the server)",
        value=f"data/exports/relevance-v{version}",
        key="rr-export-dir",
    )
    kept_only = st.checkbox("Kept captions only", key="rr-kept-only")
    if st.button("Export parquet + dataset card", key="rr-export"):
        result = export_curated_set(
            con, model_version=version, out_dir=out_dir, kept_only=kept_only
        )
        plain.success(f"Exported {result['n_rows']} captions to {out_dir}.")
    folder = Path(out_dir)
    if (folder / "captions.parquet").is_file():
        st.download_button(
            "Download the export (zip)",
            data=lambda: compute_folder_zip(folder),
            file_name=f"relevance-v{version}.zip",
            mime="application/zip",
            key="rr-download",
            on_click="ignore",
        )


def _render_images(con) -> None:
    root = get_image_root(con)
    plain.caption(
        f"Image folder: {root}" if root else "No image folder set: captions show without images."
    )
    st.caption(
        "ImageNet layouts are found: train/<wnid>/<file>, val/<file>, val/<wnid>/<file>, "
        "<wnid>/<file>, or a flat folder of files."
    )
    value = st.text_input("Folder on the server", value=str(root or ""), key="rr-image-root")
    if st.button("Save image folder", key="rr-image-root-save"):
        actor = require_actor()
        if actor:
            try:
                saved = update_image_root(con, value, actor=actor)
                plain.success(f"Image folder: {saved}" if saved else "Image folder cleared.")
            except (FileNotFoundError, ValueError) as exc:
                plain.error(exc)


def render() -> None:
    st.title("Caption relevance: review")
    con = get_cursor()
    message = st.session_state.pop("rr-message", None)
    if message:
        plain.success(message)
    version_row = _pick_model_version(con)
    if version_row is None:
        return
    version = int(version_row["model_version"])
    threshold = _render_threshold(con, version)
    decided = get_decided_captions(con, version, threshold=threshold)
    _describe_scores(version_row, decided)
    labels = _class_labels(con)
    root = get_image_root(con)
    tabs = dict(zip(TABS, st.tabs(TABS, key="tab", bind="query-params"), strict=True))
    with tabs["Overview"]:
        if tabs["Overview"].open:
            _render_overview(decided, labels, threshold)
    with tabs["Most likely wrong"]:
        if tabs["Most likely wrong"].open:
            _render_most_likely_wrong(con, decided, labels, root)
    with tabs["Captions of a class"]:
        if tabs["Captions of a class"].open:
            _render_class_captions(con, decided, labels, root)
    with tabs["Bulk"]:
        if tabs["Bulk"].open:
            _render_bulk(con, version, decided, labels)
    with tabs["Thresholds"]:
        if tabs["Thresholds"].open:
            _render_thresholds(con, version, labels)
    with tabs["Export"]:
        if tabs["Export"].open:
            _render_export(con, version)
    with tabs["Images"]:
        if tabs["Images"].open:
            _render_images(con)


render()
