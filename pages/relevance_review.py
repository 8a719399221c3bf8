"""Review relevance: overview, the dataset-wide "most likely wrong" lists (wrong class with
the suggested class, which a curator can accept; no class content; the paper's P(own)), a
class's captions, a caption in full (with its image) and a person's keep/drop with undo,
bulk keep/drop of a filter's matches as one undoable event, thresholds kept per model
version, the export (server folder and zip download) and the image folder.

The model version, class, tab and filters are in the URL. Caption text is data: shown with
st.text / st.dataframe, messages through `ui.plain`.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from curation.relevance import decisions
from curation.relevance.export import (
    compute_export_zip,
    export_curated_set,
    get_decided_captions,
    list_curated_exports,
)
from curation.relevance.rules import (
    DROP_RULE_LABELS,
    DROP_RULES,
    FROZEN_THRESHOLD,
    GLOBAL_THRESHOLD,
    SUSPECT_THRESHOLD,
    compute_class_summary,
)
from curation.thumbnails import get_image_root, update_image_root
from db import relevance as relevance_db
from db import relevance_decisions as decision_db
from db.classes import list_classes
from ui import conflicts, explore_panels, plain, relevance_panels, relevance_rankings
from ui.keyboard_review import render_keyboard_review
from ui.relevance_figures import make_class_decision_figure, make_score_histogram_figure
from ui.resources import get_cursor
from ui.widgets import get_actor, require_actor, select_in_url

THRESHOLD_NOTES = {
    "paper": f"Drop when P(own) < mean P or P(own) < the threshold. Default: {GLOBAL_THRESHOLD} "
    f"(the paper's, for a fine-tuned encoder), {FROZEN_THRESHOLD} in frozen mode (its sigmoid "
    "scores sit lower; chosen on half the default captions, benchmarks/results/noise.md).",
    "suspect": "Drop when the larger suspect score (wrong class, no class content) is at or above "
    f"the threshold. Default {SUSPECT_THRESHOLD}: the best F1 on half the default captions "
    "with 10 % injected noise (benchmarks/results/label_issues_full.md).",
}
TABS = [
    "Overview",
    "Most likely wrong",
    "Captions of a class",
    "Bulk",
    "Thresholds",
    "Export",
    "Images",
    "Search by meaning",
]


def _pick_model_version(con) -> dict | None:
    versions = relevance_db.list_model_versions(con).filter(pl.col("n_scores") > 0)
    if versions.is_empty():
        st.info("No scores yet: train a model and score the captions on the training page.")
        return None
    rows = {int(r["model_version"]): r for r in versions.iter_rows(named=True)}
    default = relevance_db.get_default_model_version(con)
    version = select_in_url(
        "Model version",
        list(rows),
        key="version",
        default=default,
        format_func=lambda v: (
            f"version {v} (run {rows[v]['run_id']}, {rows[v]['mode']}, "
            f"{rows[v]['run_status']}, {rows[v]['n_scores']} scores)"
        ),
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


def _render_drop_rule(con, version: int) -> str:
    """The version's drop rule, and a choice to change it (saved with who chose it)."""
    stored = decisions.get_drop_rule(con, version)
    cols = st.columns([4, 1])
    chosen = cols[0].radio(
        "Drop rule",
        DROP_RULES,
        index=DROP_RULES.index(stored),
        format_func=DROP_RULE_LABELS.get,
        key=f"rr-rule-{version}",
    )
    if chosen != stored and cols[1].button("Use this rule", key="rr-rule-save"):
        if actor := require_actor():
            try:
                decisions.update_drop_rule(
                    con,
                    model_version=version,
                    rule=chosen,
                    reason="chosen on the review page",
                    actor=actor,
                )
                st.session_state["rr-message"] = f"Model version {version}: drop rule {chosen}."
            except (ValueError, PermissionError) as exc:
                st.session_state["rr-error"] = str(exc)
            st.rerun()
    if chosen != stored:
        plain.caption(f"Showing the saved rule ({stored}) until you press Use this rule.")
    return stored


def _render_threshold(con, version: int, rule: str) -> float:
    stored, per_class = decisions.get_thresholds(con, version, rule=rule)
    key = f"rr-threshold-{version}-{rule}"
    shown_event = conflicts.get_shown_event(key)
    cols = st.columns([4, 1])
    on_what = "P(own class)" if rule == "paper" else "the suspect score"
    value = cols[0].slider(
        f"Global threshold on {on_what}", 0.0, 1.0, stored, 0.01, key=key, persist_state="session"
    )
    st.caption(THRESHOLD_NOTES[rule])
    if value != stored:
        plain.caption(
            f"Showing {value:.2f}; saved for this version: {stored:.2f} (the export uses it)."
        )
        if cols[1].button("Save threshold", key="rr-threshold-save"):
            retry = {"version": version, "wnid": None, "threshold": value}
            _save_threshold(key, retry, "set on the review page", shown_event)
    conflicts.render_conflict(key, _apply_threshold)
    conflicts.set_shown_event(key, decisions.get_seen_threshold_event(con, version))
    return value


def _save_threshold(key: str, retry: dict, reason: str, shown_event) -> None:
    """Save a threshold that names the change this tab showed; a colleague's newer change
    is kept for `conflicts.render_conflict` instead of being overwritten."""
    if not require_actor():
        return
    retry = {**retry, "reason": reason}
    try:
        st.session_state["rr-message"] = _apply_threshold(retry, shown_event)
    except decisions.ChangedMeanwhile as exc:
        conflicts.remember_conflict(key, exc, mine=f"{retry['threshold']}: {reason}", retry=retry)
    except (ValueError, PermissionError) as exc:
        st.session_state["rr-error"] = str(exc)
    st.rerun()


def _apply_threshold(retry: dict, seen_event) -> str:
    """Write one threshold (wnid None: the global one; threshold None: clear); the message."""
    which = "global" if retry["wnid"] is None else retry["wnid"]
    if retry["wnid"] is None:
        decisions.update_global_threshold(
            get_cursor(),
            model_version=retry["version"],
            threshold=retry["threshold"],
            reason=retry["reason"],
            actor=get_actor(),
            seen_event=seen_event,
        )
    else:
        decisions.update_class_threshold(
            get_cursor(),
            retry["wnid"],
            model_version=retry["version"],
            threshold=retry["threshold"],
            reason=retry["reason"],
            actor=get_actor(),
            seen_event=seen_event,
        )
    shown = "cleared" if retry["threshold"] is None else f"{retry['threshold']:.2f}"
    return f"Threshold ({which}, version {retry['version']}): {shown}."


def _render_overview(decided: pl.DataFrame, labels: dict, threshold: float | None) -> None:
    cols = st.columns(4)
    cols[0].metric("Scored", decided.height)
    cols[1].metric("Kept", int((decided["decision"] == "keep").sum()))
    cols[2].metric("Dropped", int((decided["decision"] == "drop").sum()))
    cols[3].metric("Decided by a person", int((decided["decided_by"] == "human").sum()))
    plain.plotly_chart(make_score_histogram_figure(decided, threshold=threshold), key="rr-hist")
    summary = compute_class_summary(decided).with_columns(
        pl.col("wnid").replace_strict(labels, default=pl.col("wnid")).alias("label")
    )
    st.caption("Classes with the largest share dropped (30 of them)")
    plain.plotly_chart(make_class_decision_figure(summary), key="rr-classes")


def _render_most_likely_wrong(con, version, decided, labels, root) -> None:
    relevance_rankings.render_rankings(con, version, decided, labels, root)


def _render_class_captions(con, decided, labels, root) -> None:
    wnids = sorted(set(decided["wnid"].to_list()))
    wnid = select_in_url("Class", wnids, key="wnid", format_func=lambda w: labels.get(w, w))
    rows = decided.filter(pl.col("wnid") == wnid).sort("p_own")
    plain.caption(f"{rows.height} scored captions, lowest P(own class) first.")
    if relevance_rankings.render_view_choice(key="rr-class-view") == relevance_rankings.ONE_BY_ONE:
        shown = relevance_panels.with_class_names(rows, labels)
        render_keyboard_review(con, shown, key=f"rr-kb-class-{wnid}", root=root)
        return
    relevance_panels.render_caption_table(con, rows, labels, key="rr-class-table", root=root)


def _render_thresholds(con, version: int, labels: dict) -> None:
    rule = decisions.get_drop_rule(con, version)
    plain.caption(
        f"Per-class thresholds of the drop rule in force ({rule}); each rule keeps its own."
    )
    thresholds = decision_db.list_version_thresholds(con, version, rule=rule).with_columns(
        pl.col("wnid").replace("", "(global)")
    )
    if not thresholds.is_empty():
        st.dataframe(thresholds, hide_index=True)
    wnid = st.selectbox("Class", sorted(labels), format_func=labels.get, key="rr-th-class")
    key = f"rr-th-{version}-{wnid}"
    shown_event = conflicts.get_shown_event(key)
    cols = st.columns([1, 3, 1, 1])
    value = cols[0].number_input("Threshold", 0.0, 1.0, 0.5, 0.05, key="rr-th")
    reason = cols[1].text_input("Reason (required)", key="rr-th-reason")
    for column, label, threshold in ((cols[2], "Set", value), (cols[3], "Clear", None)):
        if column.button(label, key=f"rr-th-{label.lower()}", disabled=not reason.strip()):
            retry = {"version": version, "wnid": wnid, "threshold": threshold}
            _save_threshold(key, retry, reason, shown_event)
    conflicts.render_conflict(key, _apply_threshold)
    conflicts.set_shown_event(key, decisions.get_seen_threshold_event(con, version, wnid))
    with st.expander("Threshold history of this model version"):
        st.dataframe(decision_db.list_threshold_events(con, model_version=version), hide_index=True)


def _render_export(con, version: int) -> None:
    """Export into a new folder under the storage root's exports/ (the page takes no server
    path), then offer the newest export's own files as a zip."""
    stored = decisions.get_thresholds(con, version)[0]
    plain.caption(f"Uses this version's saved thresholds (global {stored:.2f}).")
    kept_only = st.checkbox("Kept captions only", key="rr-kept-only")
    if st.button("Export parquet + dataset card", key="rr-export"):
        result = export_curated_set(con, model_version=version, kept_only=kept_only)
        plain.success(f"Exported {result['n_rows']} captions to {Path(result['path']).name}.")
    exports = list_curated_exports(con, version)
    if exports:
        folder = exports[0]
        plain.caption(f"Newest export: {folder.name} (in the storage root's exports folder)")
        st.download_button(
            "Download the export (zip)",
            data=lambda: compute_export_zip(folder),
            file_name=f"{folder.name}.zip",
            mime="application/zip",
            key="rr-download",
            on_click="ignore",
        )


def _render_images(con) -> None:
    root = get_image_root(con)
    plain.caption(
        f"Image folder: {root}" if root else "No image folder set: captions show without images."
    )
    plain.caption(
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
    refused = st.session_state.pop("rr-error", None)
    if refused:
        plain.error(refused)
    version_row = _pick_model_version(con)
    if version_row is None:
        return
    relevance_panels.render_last_change(con)
    version = int(version_row["model_version"])
    rule = _render_drop_rule(con, version)
    threshold = _render_threshold(con, version, rule)
    decided = get_decided_captions(con, version, threshold=threshold)
    _describe_scores(version_row, decided)
    labels = _class_labels(con)
    root = get_image_root(con)
    tabs = dict(zip(TABS, st.tabs(TABS, key="tab", bind="query-params"), strict=True))
    with tabs["Overview"]:
        if tabs["Overview"].open:
            _render_overview(decided, labels, threshold if rule == "paper" else None)
    with tabs["Most likely wrong"]:
        if tabs["Most likely wrong"].open:
            _render_most_likely_wrong(con, version, decided, labels, root)
    with tabs["Captions of a class"]:
        if tabs["Captions of a class"].open:
            _render_class_captions(con, decided, labels, root)
    with tabs["Bulk"]:
        if tabs["Bulk"].open:
            relevance_panels.render_bulk(con, version, decided, labels)
    with tabs["Thresholds"]:
        if tabs["Thresholds"].open:
            _render_thresholds(con, version, labels)
    with tabs["Export"]:
        if tabs["Export"].open:
            _render_export(con, version)
    with tabs["Images"]:
        if tabs["Images"].open:
            _render_images(con)
    with tabs["Search by meaning"]:
        if tabs["Search by meaning"].open:
            explore_panels.render_search(con, key="rr-search")


render()
