"""Class descriptions: source coverage of every class; pick, write or edit the active
description; its history with diffs and one-click revert; bulk set; Wikipedia import.

Dataset text is shown as plain text only (st.text, st.code, st.dataframe, text_area values).
Stable widget keys (used by the browser test): text area `desc-edit-text` (label "Active
description text"), button `desc-save` ("Save description"), class selectbox `desc-class`;
the URL query parameter `wnid` selects a class.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from curation import descriptions as desc
from ui import auth, plain
from ui.resources import get_cursor
from ui.widgets import get_actor

EDIT_KEY = "desc-edit-text"
CLASS_KEY = "desc-class"
CONFLICT_KEY = "desc-conflict"  # the refused save: wnid, revisions, their text, my text
MAX_HISTORY_EXPANDERS = 25
KEPT_WHILE_HIDDEN = ("desc-search", "desc-only-unset")


def render() -> None:
    st.title("Class descriptions")
    con = get_cursor()
    _render_flash()
    coverage = desc.list_description_coverage(con)
    if coverage.is_empty():
        st.info("No classes yet: run `workbench build-demo` (or `make run`) to load the catalog.")
        return
    classes, bulk, upload, licenses = st.tabs(
        ["Classes", "Bulk: fill unset", "Import Wikipedia", "Sources and licenses"],
        key="desc-tab",
        bind="query-params",
    )
    # Only the open tab does its work (a save reruns the page: issue 23, sessions benchmark).
    # A widget not drawn in a run loses its state: the Classes tab's filters are kept by hand
    # while another tab is open.
    for key in KEPT_WHILE_HIDDEN:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
    if classes.open:
        with classes:
            wnid = _render_class_picker(coverage)
            if wnid is not None:
                _render_class(con, wnid)
    if bulk.open:
        with bulk:
            _render_bulk(con)
    if upload.open:
        with upload:
            _render_import(con)
    if licenses.open:
        with licenses:
            _render_licenses(coverage)


def _flash(kind: str, message: str, *, where: str = "top") -> None:
    """Say `message` on the next run, at the top of the page or ('editor') under the
    editor's buttons, where the click was (issue 17: a refusal 1,100 px above Save)."""
    st.session_state["desc-flash"] = (kind, message, where)


def _render_flash(where: str = "top") -> None:
    kind, message, at = st.session_state.get("desc-flash", (None, None, None))
    if kind and at == where:
        del st.session_state["desc-flash"]
        getattr(plain, kind)(message)


def _render_class_picker(coverage: pl.DataFrame) -> str | None:
    left, right = st.columns([3, 2])
    search = left.text_input("Search classes (name or wnid)", key="desc-search")
    only_unset = right.checkbox("Only classes without an active description", key="desc-only-unset")
    shown = desc.filter_description_coverage(coverage, search=search, only_unset=only_unset)
    unset = coverage.filter(pl.col("active_source").is_null()).height
    st.text(f"{shown.height} of {coverage.height} classes shown; {unset} without a description.")
    source_keys = [
        c for c in shown.columns if c in {s.key for s in desc.list_description_sources()}
    ]
    st.dataframe(
        shown,
        hide_index=True,
        height=260,
        column_config={k: st.column_config.CheckboxColumn(k) for k in source_keys},
    )
    if shown.is_empty():
        st.info("No class matches the filter.")
        return None
    names = dict(zip(shown["wnid"], shown["name"], strict=True))
    wanted = st.query_params.get("wnid")
    if CLASS_KEY not in st.session_state and wanted in names:
        st.session_state[CLASS_KEY] = wanted
    wnid = st.selectbox(
        "Class", list(names), key=CLASS_KEY, format_func=lambda w: f"{w}  {names[w]}"
    )
    st.query_params["wnid"] = wnid
    return wnid


def _render_class(con, wnid: str) -> None:
    active = desc.get_active_description(con, wnid)
    _sync_editor(wnid, active)
    st.subheader("Active description")
    if active is None:
        st.text("(none chosen yet)")
    else:
        who = auth.display_names().get(active["updated_by"], active["updated_by"])
        st.text(
            f"source: {active['source']} · revision {active['revision']} · "
            f"by {who} at {active['updated_at']:%Y-%m-%d %H:%M:%S}"
        )
        st.code(active["text"], language=None, wrap_lines=True)
    may_edit = auth.can("edit_descriptions")
    if not may_edit:
        auth.explain_refusal("edit_descriptions")
    _render_conflict(wnid)
    st.text_area(
        "Active description text",
        key=EDIT_KEY,
        height=140,
        max_chars=desc.MAX_DESCRIPTION_CHARS,
        disabled=not may_edit,
    )
    base = st.session_state["desc-edit-base"]
    if active is not None and active["revision"] != base:
        st.warning(
            f"This description changed (now revision {active['revision']}) since you started "
            f"editing revision {base}. Saving will show you both versions first."
        )
    left, right = st.columns(2)
    left.button(
        "Save description",
        key="desc-save",
        type="primary",
        on_click=_save,
        args=(wnid,),
        disabled=not may_edit,
    )
    right.button(
        "Undo last change",
        key="desc-undo",
        on_click=_apply,
        args=(wnid, desc.undo_last_description_change, wnid),
        disabled=not may_edit,
    )
    _render_flash("editor")
    _render_candidates(con, wnid, active, may_edit)
    _render_history(con, wnid, may_edit)


def _render_conflict(wnid: str) -> None:
    """After a refused save: both versions, and keep theirs / keep mine / merge by hand."""
    conflict = st.session_state.get(CONFLICT_KEY)
    if not conflict or conflict["wnid"] != wnid:
        return
    st.warning(
        plain.escape_markdown(
            f"Not saved: {conflict['their_actor']} changed this description (revision "
            f"{conflict['revision']}) after you opened revision {conflict['based_on']}. "
            "Compare, then choose."
        )
    )
    st.code(
        desc.compute_description_diff(
            conflict["their_text"], conflict["my_text"], labels=("theirs", "mine")
        ),
        language="diff",
        wrap_lines=True,
    )
    theirs, mine, merge = st.columns(3)
    theirs.button("Keep theirs", key="desc-conflict-theirs", on_click=_resolve, args=("theirs",))
    mine.button("Keep mine", key="desc-conflict-mine", on_click=_resolve, args=("mine",))
    merge.button("Merge by hand", key="desc-conflict-merge", on_click=_resolve, args=("merge",))


def _resolve(choice: str) -> None:
    """Button callback of the conflict panel. Keep mine saves against the revision now seen
    (refused again if it moved on once more); merge puts both texts in the editor."""
    conflict = st.session_state.pop(CONFLICT_KEY)
    wnid, revision = conflict["wnid"], conflict["revision"]
    if choice == "theirs":
        _load_editor(wnid, revision, conflict["their_text"] or "")
        _flash(
            "success",
            f"Kept their version (revision {revision}); your text was dropped.",
            where="editor",
        )
        return
    if choice == "merge":
        merged = f"{conflict['their_text'] or ''}\n\n{conflict['my_text']}".strip()
        _load_editor(wnid, revision, merged)
        st.session_state["desc-edit-loaded"] = (wnid, revision, None)  # a draft: keep it
        _flash(
            "info", "Both texts are in the editor (theirs first): edit, then save.", where="editor"
        )
        return
    st.session_state["desc-edit-base"] = revision
    _apply(
        wnid,
        desc.update_active_description,
        wnid,
        text=conflict["my_text"],
        based_on_revision=revision,
    )


def _sync_editor(wnid: str, active: dict | None) -> None:
    """Load the active text into the editor when the class or its revision changed, unless
    the curator has an unsaved draft (then the warning above tells them)."""
    text, revision = (active["text"], active["revision"]) if active else ("", 0)
    loaded = st.session_state.get("desc-edit-loaded")
    draft_untouched = loaded is not None and st.session_state.get(EDIT_KEY) == loaded[2]
    # The widget's state is dropped on runs that did not draw it (e.g. a filter hid the class).
    missing = loaded is None or EDIT_KEY not in st.session_state or loaded[0] != wnid
    if missing or (loaded[1] != revision and draft_untouched):
        _load_editor(wnid, revision, text)


def _load_editor(wnid: str, revision: int, text: str) -> None:
    st.session_state[EDIT_KEY] = text
    st.session_state["desc-edit-loaded"] = (wnid, revision, text)
    st.session_state["desc-edit-base"] = revision


def _after_change(wnid: str, change: desc.DescriptionChange) -> None:
    active = desc.get_active_description(get_cursor(), wnid)
    _load_editor(wnid, change.revision, active["text"] if active else "")
    _flash("warning" if change.conflict else "success", change.describe(), where="editor")


def _apply(wnid: str, edit, target, **kwargs) -> None:
    """Button callback: `edit(cursor, target, actor=..., **kwargs)`, one `desc` edit of the
    class `wnid`; its outcome (or the reason it was refused) is flashed on the next run."""
    try:
        change = edit(get_cursor(), target, actor=get_actor(), **kwargs)
    except desc.DescriptionConflict as exc:
        st.session_state[CONFLICT_KEY] = {
            "wnid": exc.wnid,
            "based_on": exc.based_on_revision,
            "revision": exc.revision,
            "their_text": exc.their_text,
            "their_actor": auth.display_names().get(exc.their_actor, exc.their_actor),
            "my_text": kwargs.get("text", ""),
        }
        return
    except (ValueError, PermissionError) as exc:
        _flash("error", str(exc), where="editor")
        return
    st.session_state.pop(CONFLICT_KEY, None)
    _after_change(wnid, change)


def _save(wnid: str) -> None:
    """Save the editor's text (read at click time) as the class's active description."""
    _apply(
        wnid,
        desc.update_active_description,
        wnid,
        text=st.session_state.get(EDIT_KEY, ""),
        based_on_revision=st.session_state.get("desc-edit-base"),
    )


def _render_candidates(con, wnid: str, active: dict | None, may_edit: bool) -> None:
    st.subheader("Candidates")
    candidates = desc.list_description_candidates(con, wnid)
    if candidates.is_empty():
        st.text("No source has a text for this class. Write one above.")
    for row in candidates.iter_rows(named=True):
        is_active = active is not None and (active["source"], active["text"]) == (
            row["source"],
            row["text"],
        )
        st.text(
            f"{row['source']}: {row['title']} ({row['license']})"
            + ("  [active]" if is_active else "")
        )
        st.code(row["text"], language=None, wrap_lines=True)
        st.button(
            f"Use {row['source']}",
            key=f"desc-pick-{row['source']}",
            disabled=is_active or not may_edit,
            on_click=_apply,
            args=(wnid, desc.pick_description, wnid),
            kwargs={"source": row["source"]},
        )


def _render_history(con, wnid: str, may_edit: bool) -> None:
    st.subheader("History")
    events = desc.list_description_history(con, wnid)
    if events.is_empty():
        st.text("No changes yet.")
        return
    names = auth.display_names()
    events = events.with_columns(
        pl.col("actor").replace_strict(names, default=pl.col("actor"), return_dtype=pl.Utf8)
    )
    table = events.select(
        "event_id",
        pl.col("revision_after").alias("revision"),
        "at_time",
        "actor",
        "action",
        pl.concat_str(
            pl.col("source_before").fill_null("-"),
            pl.lit(" -> "),
            pl.col("source_after").fill_null("-"),
        ).alias("source"),
        # Plain Python over lists, never a polars callback (`map_elements`): a Python
        # callback on polars' thread pool deadlocked the server under ten sessions.
        pl.Series(
            "change ([-removed-] {+added+})",
            [
                desc.compute_word_diff(before, after)
                for before, after in zip(
                    events["text_before"].to_list(), events["text_after"].to_list(), strict=True
                )
            ],
            pl.Utf8,
        ),
        "based_on_revision",
        "reverts_event_id",
    )
    st.dataframe(table, hide_index=True, key="desc-history-table")
    for event in events.head(MAX_HISTORY_EXPANDERS).iter_rows(named=True):
        label = (
            f"Event {event['event_id']}: revision {event['revision_after']}, "
            f"{event['action']} by {event['actor']}"
        )
        with st.expander(plain.label(label)):
            st.code(
                desc.compute_description_diff(
                    event["text_before"],
                    event["text_after"],
                    labels=(
                        f"before event {event['event_id']}",
                        f"after event {event['event_id']}",
                    ),
                ),
                language="diff",
                wrap_lines=True,
            )
            st.button(
                "Revert (restore the text from before this change)",
                key=f"desc-revert-{event['event_id']}",
                disabled=not may_edit,
                on_click=_apply,
                args=(wnid, desc.revert_description_event, int(event["event_id"])),
            )
    if events.height > MAX_HISTORY_EXPANDERS:
        st.text("Older events: revert them with `workbench descriptions revert EVENT_ID`.")


def _render_bulk(con) -> None:
    st.text("Use one source's text for every class that has no active description yet.")
    keys = [s.key for s in desc.list_description_sources() if s.origin != "curator"]
    source = st.selectbox("Source", keys, key="desc-bulk-source")
    count = desc.count_unset_with_source(con, source=source)
    if count == 0:
        st.text(
            f"Nothing to do with '{source}': every class that has a '{source}' text already has "
            "an active description (or the source has no texts yet: import it first)."
        )
        return
    confirmed = st.checkbox(
        f"Yes, set {count} class descriptions from '{source}'", key="desc-bulk-confirm"
    )
    st.button(
        "Apply",
        key="desc-bulk-apply",
        disabled=not confirmed,
        help=None if confirmed else "Tick the box above to confirm first.",
        on_click=_apply_bulk,
        args=(source,),
    )


def _apply_bulk(source: str) -> None:
    try:
        changed = desc.use_source_where_unset(get_cursor(), source=source, actor=get_actor())
    except (ValueError, PermissionError) as exc:
        _flash("error", str(exc))
        return
    st.session_state["desc-bulk-confirm"] = False
    _flash("success", f"Set {changed} class descriptions from {source}.")


def _render_import(con) -> None:
    st.text(
        "A CSV or JSON file with a wnid and a text field per class, e.g. the 1000 "
        "Wikipedia summaries published with the paper. Bad rows are reported, not stored."
    )
    upload = st.file_uploader(
        "Wikipedia summaries file", type=["csv", "json", "jsonl"], key="desc-upload"
    )
    st.checkbox("Store nothing if any row has a problem", key="desc-upload-strict")
    st.button("Import file", key="desc-import", disabled=upload is None, on_click=_import_upload)
    report = st.session_state.get("desc-import-report")
    if report is not None:
        st.code(report.describe(), language=None, wrap_lines=True)
        rows = [{**p, "problem": "invalid"} for p in report.problems] + [
            {**u, "field": "wnid", "reason": "not in the catalog", "problem": "unknown wnid"}
            for u in report.unknown_wnids
        ]
        if rows:
            st.dataframe(pl.DataFrame(rows), hide_index=True, key="desc-import-problems")
    st.divider()
    st.text("The shipped sources (WordNet, Wiktionary, GPT) for every class in the catalog:")
    st.button("Import shipped sources", key="desc-import-builtin", on_click=_import_builtin)


def _import_upload() -> None:
    """Callback: the import runs before the page is drawn, so the new texts are listed."""
    upload = st.session_state.get("desc-upload")
    if upload is None:
        return
    try:
        report = desc.import_description_content(
            get_cursor(),
            upload.getvalue(),
            file_name=upload.name,
            strict=bool(st.session_state.get("desc-upload-strict")),
            actor=get_actor(),
        )
    except (ValueError, PermissionError) as exc:
        st.session_state.pop("desc-import-report", None)
        _flash("error", f"The file was not imported; nothing was stored. {exc}")
        return
    st.session_state["desc-import-report"] = report
    _flash("success" if report.stored else "warning", report.describe())


def _import_builtin() -> None:
    try:
        counts = desc.import_builtin_sources(get_cursor(), actor=get_actor())
    except PermissionError as exc:
        _flash("error", str(exc))
        return
    _flash("success", "Stored: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def _render_licenses(coverage: pl.DataFrame) -> None:
    rows = [
        {
            "source": s.key,
            "title": s.title,
            "license": s.license,
            "attribution": s.attribution,
            "url": s.url,
            "classes with text": int(coverage[s.key].sum()) if s.key in coverage.columns else None,
        }
        for s in desc.list_description_sources()
    ]
    st.dataframe(pl.DataFrame(rows), hide_index=True, key="desc-licenses")
    st.text(
        "Wiktionary text is CC BY-SA: edits of it stay CC BY-SA; the history keeps the "
        "source each edit started from. Full notices: curation/data/ATTRIBUTION.md."
    )


render()
