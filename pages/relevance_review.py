"""Review relevance: score histogram, kept/dropped per class, the lowest-scored captions of a
class in full, manual keep/drop with a reason (history, undo), per-class thresholds, export.
Caption text is data: shown only with st.text / st.dataframe."""

from __future__ import annotations

import polars as pl
import streamlit as st

from curation.relevance import decisions
from curation.relevance.export import export_curated_set, get_decided_captions
from curation.relevance.rules import GLOBAL_THRESHOLD, compute_class_summary
from db import relevance as relevance_db
from db import relevance_decisions as decision_db
from db.classes import list_classes
from ui.relevance_figures import make_class_decision_figure, make_score_histogram_figure
from ui.resources import get_cursor
from ui.widgets import get_actor


def _pick_model_version(con) -> int | None:
    versions = relevance_db.list_model_versions(con).filter(pl.col("n_scores") > 0)
    if versions.is_empty():
        st.info("No scores yet: train a model and score the captions on the training page.")
        return None
    labels = {
        row["model_version"]: f"version {row['model_version']} (run {row['run_id']}, epoch "
        f"{row['epoch']}, {row['n_scores']} scores)"
        for row in versions.iter_rows(named=True)
    }
    return st.selectbox("Model version", list(labels), format_func=labels.get, key="rr-version")


def _class_labels(con) -> dict[str, str]:
    classes = list_classes(con)
    # plotly reads a few HTML tags in labels: neutralise '<' in catalog names.
    return {
        w: f"{n.replace('<', '‹')} ({w})" for w, n in classes.select("wnid", "name").iter_rows()
    }


def _render_overview(decided: pl.DataFrame, labels: dict, threshold: float) -> None:
    cols = st.columns(4)
    cols[0].metric("Scored", decided.height)
    cols[1].metric("Kept", int((decided["decision"] == "keep").sum()))
    cols[2].metric("Dropped", int((decided["decision"] == "drop").sum()))
    cols[3].metric("Decided by a person", int((decided["decided_by"] == "human").sum()))
    st.plotly_chart(make_score_histogram_figure(decided, threshold=threshold), key="rr-hist")
    summary = compute_class_summary(decided).with_columns(
        pl.col("wnid").replace_strict(labels, default=pl.col("wnid")).alias("label")
    )
    st.caption("Classes with the largest share dropped")
    st.plotly_chart(make_class_decision_figure(summary), key="rr-classes")


def _render_class_captions(con, decided: pl.DataFrame, labels: dict) -> None:
    wnids = sorted(set(decided["wnid"].to_list()))
    wnid = st.selectbox("Class", wnids, format_func=lambda w: labels.get(w, w), key="rr-class")
    n = st.slider("Lowest-scored captions to show", 5, 100, 20, key="rr-n")
    rows = decided.filter(pl.col("wnid") == wnid).sort("p_own").head(n)
    st.dataframe(
        rows.select(
            "caption_id",
            "p_own",
            "p_mean",
            "decision",
            "decided_by",
            "coefficient",
            "title",
            "description",
            "tags",
            "human_reason",
        ),
        hide_index=True,
    )
    if rows.is_empty():
        return
    caption_id = st.selectbox("Caption", rows["caption_id"].to_list(), key="rr-caption")
    row = rows.filter(pl.col("caption_id") == caption_id).row(0, named=True)
    st.text(
        f"Title: {row['title']}\nDescription: {row['description']}\n"
        f"Tags: {', '.join(row['tags'] or [])}"
    )
    st.text(
        f"P(own) {row['p_own']:.3f}  mean P {row['p_mean']:.3f}  model: "
        f"{row['model_decision']}  final: {row['decision']} ({row['decided_by']})"
    )
    _render_decision_form(con, int(caption_id))


def _render_decision_form(con, caption_id: int) -> None:
    cols = st.columns([1, 3, 1])
    choice = cols[0].radio("Decision", ["keep", "drop", "back to model"], key="rr-choice")
    reason = cols[1].text_input("Reason (required)", key="rr-reason")
    if cols[2].button("Apply", key="rr-apply", disabled=not reason.strip()):
        decision = None if choice == "back to model" else choice
        decisions.update_decision(
            con, caption_id, decision=decision, reason=reason, actor=get_actor()
        )
        st.rerun()
    history = decisions.list_decision_history(con, caption_id=caption_id)
    if not history.is_empty():
        st.dataframe(history, hide_index=True)
        latest = int(history["event_id"][0])
        if st.button(f"Undo event {latest}", key="rr-undo"):
            decisions.undo_decision_event(con, latest, actor=get_actor())
            st.rerun()


def _render_thresholds(con, labels: dict) -> None:
    thresholds = decision_db.list_class_thresholds(con)
    if not thresholds.is_empty():
        st.dataframe(thresholds, hide_index=True)
    wnid = st.selectbox("Class", sorted(labels), format_func=labels.get, key="rr-th-class")
    cols = st.columns([1, 3, 1, 1])
    value = cols[0].number_input("Threshold", 0.0, 1.0, GLOBAL_THRESHOLD, 0.05, key="rr-th")
    reason = cols[1].text_input("Reason (required)", key="rr-th-reason")
    if cols[2].button("Set", key="rr-th-set", disabled=not reason.strip()):
        decisions.update_class_threshold(
            con, wnid, threshold=value, reason=reason, actor=get_actor()
        )
        st.rerun()
    if cols[3].button("Clear", key="rr-th-clear", disabled=not reason.strip()):
        decisions.update_class_threshold(
            con, wnid, threshold=None, reason=reason, actor=get_actor()
        )
        st.rerun()
    with st.expander("Threshold history"):
        st.dataframe(decision_db.list_threshold_events(con), hide_index=True)


def _render_export(con, version: int, threshold: float) -> None:
    out_dir = st.text_input(
        "Export folder", value=f"data/exports/relevance-v{version}", key="rr-export-dir"
    )
    kept_only = st.checkbox("Kept captions only", key="rr-kept-only")
    if st.button("Export parquet + dataset card", key="rr-export"):
        result = export_curated_set(
            con, model_version=version, out_dir=out_dir, threshold=threshold, kept_only=kept_only
        )
        st.success(f"Exported {result['n_rows']} captions.")
        st.text("\n".join(result[k] for k in ("captions", "class_descriptions", "card")))


def render() -> None:
    st.title("Caption relevance: review")
    con = get_cursor()
    version = _pick_model_version(con)
    if version is None:
        return
    threshold = st.slider(
        "Global threshold on P(own class)", 0.0, 1.0, GLOBAL_THRESHOLD, 0.01, key="rr-threshold"
    )
    decided = get_decided_captions(con, int(version), threshold=threshold)
    labels = _class_labels(con)
    overview, captions, thresholds, export = st.tabs(
        ["Overview", "Captions of a class", "Per-class thresholds", "Export"]
    )
    with overview:
        _render_overview(decided, labels, threshold)
    with captions:
        _render_class_captions(con, decided, labels)
    with thresholds:
        _render_thresholds(con, labels)
    with export:
        _render_export(con, int(version), threshold)


render()
