"""Add a class: describe it, see its nearest classes, synthesize its head row in the
background, try it on uploaded photos, keep or discard it, export the extended model.

Widget keys (tests): `add-name`, `add-id`, `add-description`, `add-texts`, `add-methods`,
`add-synthesize`, `add-keep`, `add-discard`, `add-export`, `add-table1-class`. Dataset and
user text is shown with st.text / st.dataframe only.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import polars as pl
import streamlit as st

from curation.catalog import slugify_custom_id
from db import added_classes as added_db
from extension.specs import AddClassSpec, ModelSpec
from extension.synthesis.methods import list_methods, resolve_method
from extension.synthesis.new_class import (
    check_new_class_id,
    compute_preview,
    discard_added_class,
    keep_added_class,
)
from ui.extension_figures import make_nearest_figure
from ui.extension_resources import get_donors
from ui.resources import get_cursor, start_job
from ui.widgets import get_actor, render_job_status

DEFAULT_METHODS = ["ridge-deviation-idf-x1.5", "ridge-deviation-idf", "paper-cosine"]
JOB_KEY = "add-class-job"


def render() -> None:
    st.title("Add a class from text")
    st.caption(
        "A trained classifier learns a new class from its description alone: the new head "
        "row is synthesized from the rows of classes with similar texts."
    )
    con = get_cursor()
    model = ModelSpec(name=st.sidebar.text_input("Base model (timm name or 'default')", "default"))
    try:
        donors, state = get_donors(con, model)
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        st.error(str(exc))
        return
    if donors is None:
        st.info(
            "The class text statistics are being built (background job); this page fills in "
            "when they are ready."
        )
        return
    name, class_id, texts = _render_inputs()
    if texts:
        _render_preview(donors, texts)
    methods = st.multiselect(
        "Synthesis methods (the first is exported)",
        list_methods(),
        default=[m for m in DEFAULT_METHODS if m in list_methods()],
        key="add-methods",
    )
    if st.button(
        "Synthesize", key="add-synthesize", type="primary", disabled=not (texts and methods)
    ):
        spec = AddClassSpec(
            class_id=class_id,
            name=name,
            description=texts[0],
            texts=tuple(texts[1:]),
            methods=tuple(resolve_method(m) for m in methods),
            model=model,
            actor=get_actor(),
        )
        try:
            check_new_class_id(con, class_id, name)
        except ValueError as exc:
            st.error(str(exc))
        else:
            st.session_state[JOB_KEY] = start_job("synthesize-class", spec.to_dict())
    if JOB_KEY in st.session_state:
        job = render_job_status(st.session_state[JOB_KEY], key="add-class")
        if job and job["status"] == "succeeded":
            _render_draft(con, donors, job["result"]["wnid"])
    _render_added(con, model)
    _render_existing_class_distances(con)


def _render_inputs() -> tuple[str, str, list[str]]:
    name = st.text_input("Class name", key="add-name")
    default_id = ""
    if name.strip():
        try:
            default_id = slugify_custom_id(name)
        except ValueError:
            default_id = ""
    class_id = (
        st.text_input(
            "Class id ('custom-...' or an ImageNet-21k wnid; empty: from the name)",
            placeholder=default_id,
            key="add-id",
        )
        or default_id
    )
    description = st.text_area("Description", key="add-description", height=120)
    extra = st.text_area("More texts (optional, one per line)", key="add-texts", height=80)
    upload = st.file_uploader("...or a text file (one text per line)", type=["txt"], key="add-file")
    lines = [t for t in extra.splitlines() if t.strip()]
    if upload is not None:
        lines += [
            t for t in upload.getvalue().decode("utf-8", errors="replace").splitlines() if t.strip()
        ]
    texts = [description] + lines if description.strip() else []
    return name, class_id.strip(), texts


def _render_preview(donors, texts: list[str]) -> None:
    try:
        preview = compute_preview(donors, texts)
    except ValueError as exc:
        st.error(str(exc))
        return
    st.subheader("Nearest classes")
    st.text(f"{preview.n_tokens} vocabulary tokens found in the text.")
    st.dataframe(preview.table1, hide_index=True)
    tabs = st.tabs(list(preview.nearest))
    for tab, (distance, frame) in zip(tabs, preview.nearest.items(), strict=True):
        with tab:
            st.plotly_chart(
                make_nearest_figure(frame, distance=distance), key=f"add-nearest-{distance}"
            )


def _render_draft(con, donors, wnid: str) -> None:
    draft = added_db.get_added_class(con, wnid)
    if draft is None:
        st.info(f"{wnid} was discarded.")
        return
    heads = added_db.list_synthesized_heads(con, wnid=wnid)
    st.subheader(f"Synthesized rows of {wnid} ({draft['status']})")
    st.dataframe(
        heads.select("method_label", "row_norm", "bias", "sha256", "is_primary"), hide_index=True
    )
    _render_image_check(donors, heads)
    if draft["status"] == "draft":
        primary = st.selectbox("Row to export", heads["method_label"].to_list(), key="add-primary")
        keep, discard = st.columns(2)
        if keep.button("Keep this class", key="add-keep", type="primary"):
            keep_added_class(con, wnid, primary_method=primary)
            st.rerun()
        if discard.button("Discard", key="add-discard"):
            discard_added_class(con, wnid)
            st.session_state.pop(JOB_KEY, None)
            st.rerun()


def _render_image_check(donors, heads) -> None:
    files = st.file_uploader(
        "Try it on photos (optional)",
        type=["jpg", "jpeg", "png"],
        accept_multiple_files=True,
        key="add-images",
    )
    if not files:
        return
    import torch

    from extension.images.store import load_features
    from extension.models import Head
    from extension.synthesis.new_class import compute_image_ranking, load_head_file
    from ui.extension_resources import get_base

    base_classifier = get_base(heads["model_json"][0])
    base, class_wnids = base_classifier.head, base_classifier.class_wnids
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"{i}{Path(f.name).suffix.lower()}" for i, f in enumerate(files)]
        for path, file in zip(paths, files, strict=True):
            path.write_bytes(file.getvalue())
        features, _, report = load_features(
            base_classifier.model, paths, model_key=base_classifier.model_key
        )
        if report.errors:
            st.error("; ".join(report.errors.values()))
            return
    added = [
        load_head_file(Path(p), sha256=s)
        for p, s in zip(heads["path"], heads["sha256"], strict=True)
    ]
    head = Head(torch.cat([h.weight for h in added]), torch.cat([h.bias for h in added]))
    names = [donors.names.get(w, w) for w in class_wnids] + [
        f"NEW: {m}" for m in heads["method_label"]
    ]
    ranking = compute_image_ranking(features, base, head, names)
    st.dataframe(ranking.with_columns(file=[f.name for f in files]), hide_index=True)


def _render_added(con, model: ModelSpec) -> None:
    st.subheader("Added classes")
    added = added_db.list_added_classes(con)
    if added.is_empty():
        st.text("None yet.")
        return
    st.dataframe(added, hide_index=True)
    if added.filter(added["status"] == "kept").is_empty():
        return
    if st.button("Export the extended model", key="add-export"):
        from extension.specs import ExportSpec
        from extension.synthesis.export import run_export

        with tempfile.TemporaryDirectory() as tmp, st.spinner("Exporting ..."):
            result = run_export(con, ExportSpec(out_dir=str(Path(tmp) / "model"), model=model))
            st.session_state["add-export-zip"] = _zip_folder(Path(result["path"]))
            st.session_state["add-export-info"] = result
    if "add-export-zip" in st.session_state:
        info = st.session_state["add-export-info"]
        st.text(
            f"{info['architecture']}: {info['num_classes']} classes ({len(info['added'])} added)"
        )
        st.download_button(
            "Download checkpoint (zip)",
            st.session_state["add-export-zip"],
            file_name="extended-model.zip",
            mime="application/zip",
            key="add-download",
        )


def _render_existing_class_distances(con) -> None:
    """The paper's Table 1 for any base class: closest, furthest and mean per distance."""
    from db.classes import list_classes
    from extension.text.store import compute_class_table1

    with st.expander("Distances between existing classes (the paper's Table 1)"):
        classes = list_classes(con).filter(pl.col("class_index").is_not_null())
        labels = {f"{r['name']} ({r['wnid']})": r["wnid"] for r in classes.iter_rows(named=True)}
        choice = st.selectbox("Class", list(labels), index=None, key="add-table1-class")
        if choice is None:
            return
        try:
            result = compute_class_table1(con, labels[choice])
        except ValueError as exc:
            st.error(str(exc))
            return
        st.dataframe(result["table1"], hide_index=True)
        for distance, frame in result["nearest"].items():
            st.text(f"Nearest by {distance} distance")
            st.dataframe(frame, hide_index=True)


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, arcname=path.name)
    return buffer.getvalue()


render()
