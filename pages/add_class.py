"""Add a class: describe it, see its nearest classes, synthesize its head rows in the
background, keep or discard any draft, try its rows on photos, export the extended model.

Everything the page waits for (a synthesis, a keep, a photo check, an export) is a job read
back from the database, so a reload or a second tab shows the same state, and a finished job
reruns the page. Widget keys (tests): `add-name`, `add-id`, `add-description`, `add-texts`,
`add-methods`, `add-synthesize`, `add-class`, `add-primary`, `add-keep`, `add-discard`,
`add-photos`, `add-check`, `add-export`, `add-download`, `add-table1-class`.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from curation.catalog import find_existing_classes, slugify_custom_id
from db import added_classes as added_db
from db.storage import get_storage
from extension.specs import AddClassSpec, ExportSpec, KeepClassSpec, ModelSpec, PhotoCheckSpec
from extension.synthesis.drafts import save_check_photos
from extension.synthesis.methods import list_default_methods, list_methods, resolve_method
from extension.synthesis.new_class import (
    check_new_class_id,
    compute_class_texts,
    compute_preview,
    discard_added_class,
    list_calibration_sets,
)
from ui import plain
from ui.extension_figures import make_nearest_figure
from ui.extension_resources import get_base, get_donors
from ui.resources import get_cursor, start_job
from ui.widgets import find_latest_job, follow_defaults, get_actor, render_job_status, require_actor

FLASH_KEY = "add-flash"


def render() -> None:
    st.title("Add a class from text")
    st.caption(
        "A trained classifier learns a new class from its description alone: the new head "
        "row is synthesized from the rows of classes with similar texts."
    )
    _render_flash()
    con = get_cursor()
    model = ModelSpec(name=_pick_model())
    try:
        donors, state = get_donors(con, model)
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        plain.error(exc)
        return
    if donors is None or state != "current":
        _render_text_stats_status(state)
    if donors is None:
        return
    st.header("1. Describe the class")
    _render_new_class(con, donors, model)
    st.header("2. Added classes")
    _render_added_classes(con, donors, model)
    st.header("3. Export the extended model")
    _render_export(con, model)
    _render_existing_class_distances(con)


def _pick_model() -> str:
    """The base model, from the allow-list only (`list_allowed_models`): a link's `?model=`
    outside it is named and ignored, never built or downloaded."""
    from extension.models import MODELS_ENV_VAR, list_allowed_models

    allowed = list_allowed_models()
    requested = st.query_params.get("model", "default")
    if requested not in allowed:
        st.session_state["model-refused"] = requested  # said on every rerun of this session
        requested = "default"
    refused = st.session_state.get("model-refused")
    if refused:
        plain.warning(
            f"The model {refused!r} in the link is not offered here; using 'default'. An "
            f"operator can allow timm models with ${MODELS_ENV_VAR}."
        )
    if "model" not in st.session_state:
        st.session_state["model"] = requested
    name = st.sidebar.selectbox("Base model", allowed, key="model")
    st.query_params["model"] = name
    return name


def _render_flash() -> None:
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        plain.success(message)


def _render_text_stats_status(state: str) -> None:
    if state == "missing":
        st.info("The class text statistics are being built (a background job); the page fills in.")
    else:
        st.caption("Class texts changed: the statistics are being rebuilt; showing the last build.")
    job_id = find_latest_job("text-stats")
    if job_id is not None:
        render_job_status(job_id, key="add-text-stats")


def _render_new_class(con, donors, model: ModelSpec) -> None:
    name, class_id, texts = _render_inputs()
    if texts:
        _render_preview(donors, compute_class_texts(name, texts[0], texts[1:]))
    if donors.embeddings is None:
        st.caption(
            "The sentence embeddings of the class texts are being computed (a background "
            "job): until then the embedding distance and the methods that use it are off."
        )
        job_id = find_latest_job("text-embeddings")
        if job_id is not None:
            render_job_status(job_id, key="add-embeddings")
    calibration_set = _render_calibration_choice(con, model)
    defaults = list_default_methods(
        calibration_images=calibration_set is not None, embeddings=donors.embeddings is not None
    )
    defaults = [m for m in defaults if m in list_methods()]
    follow_defaults("add-methods", defaults)
    methods = st.multiselect(
        "Synthesis methods (the first is exported)",
        list_methods(),
        default=defaults,
        key="add-methods",
    )
    blocked = _render_existing_class_warning(con, name, class_id)
    if st.button(
        "Synthesize",
        key="add-synthesize",
        type="primary",
        disabled=not (texts and methods) or blocked,
    ):
        _start_synthesis(con, name, class_id, texts, methods, model, calibration_set)
    job_id = find_latest_job("synthesize-class")
    if job_id is not None:
        render_job_status(job_id, key="add-synth")


def _render_inputs() -> tuple[str, str, list[str]]:
    name = st.text_input("Class name", key="add-name", bind="query-params", max_chars=200)
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
            bind="query-params",
            max_chars=80,
        )
        or default_id
    )
    description = st.text_area(
        "Description", key="add-description", height=120, bind="query-params", max_chars=5000
    )
    extra = st.text_area(
        "More texts (optional, one per line)", key="add-texts", height=80, persist_state="session"
    )
    upload = st.file_uploader("...or a text file (one text per line)", type=["txt"], key="add-file")
    lines = [t for t in extra.splitlines() if t.strip()]
    if upload is not None:
        lines += [
            t for t in upload.getvalue().decode("utf-8", errors="replace").splitlines() if t.strip()
        ]
    texts = [description] + lines if description.strip() else []
    return name, class_id.strip(), texts


def _render_calibration_choice(con, model: ModelSpec) -> int | None:
    """The image set the new row's bias is calibrated on (its images are unlabeled for the
    new class), or None; the newest embedded set by default."""
    sets = list_calibration_sets(con, get_base(model.to_json()).model_key)
    if sets.is_empty():
        st.caption(
            "No image set is embedded with this model: the default rows are calibrated on the "
            "built-in class prototypes (trained rows + photos shipped in packages). Register "
            "and embed a set on the Evaluation page to calibrate the bias on your own photos."
        )
        return None
    names = dict(sets.select("set_id", "name").iter_rows())
    set_id = st.selectbox(
        "Calibrate the bias on image set (unlabeled for the new class)",
        [None, *names],
        index=1,
        format_func=lambda s: "none (no calibration)" if s is None else f"{names[s]} (set {s})",
        key="add-calibration",
    )
    if set_id is not None:
        st.caption(
            f"Bias calibrated on image set {plain.escape_markdown(names[set_id])}: the row "
            "competes with the trained rows on its photos, none of them labeled as the new class."
        )
    return set_id


def _render_existing_class_warning(con, name: str, class_id: str) -> bool:
    """Point at catalog classes the new one duplicates; True while Synthesize stays off
    (until the curator ticks "add anyway as a variant", or for a taken id: always)."""
    if not name.strip():
        return False
    same = find_existing_classes(con, name=name, class_id=class_id)
    if not same:
        return False
    plain.warning(
        "Already a class: "
        + "; ".join(f"{c['name']} ({c['wnid']}, {c['origin']})" for c in same)
        + ". Open it on Class descriptions (the link below), or add this one anyway as a variant."
    )
    _render_descriptions_link(same[0]["wnid"])
    if any(c["wnid"] == class_id for c in same):
        return True  # an id is never reused: choose another id
    return not st.checkbox("Add anyway as a variant", key="add-variant")


def _render_descriptions_link(wnid: str) -> None:
    """A link that opens `wnid` on Class descriptions (none where that page is not in the
    navigation: a page run on its own, as in AppTest)."""
    from streamlit.errors import StreamlitPageNotFoundError

    try:
        st.page_link(
            "pages/descriptions.py",
            label=f"Open {plain.escape_markdown(wnid)} on Class descriptions",
            query_params={"wnid": wnid},
        )
    except StreamlitPageNotFoundError:
        pass


def _start_synthesis(con, name, class_id, texts, methods, model, calibration_set) -> None:
    actor = require_actor()
    if actor is None:
        return
    try:
        check_new_class_id(con, class_id, name)
        spec = AddClassSpec(
            class_id=class_id,
            name=name,
            description=texts[0],
            texts=tuple(texts[1:]),
            methods=tuple(resolve_method(m) for m in methods),
            model=model,
            actor=actor,
            calibration_set_id=calibration_set,
        )
        start_job(spec)
    except ValueError as exc:
        plain.error(exc)


def _render_preview(donors, texts: list[str]) -> None:
    try:
        preview = compute_preview(donors, texts)
    except ValueError as exc:
        plain.error(exc)
        return
    st.subheader("Nearest classes")
    st.text(f"{preview.n_tokens} vocabulary tokens found in the text.")
    st.dataframe(preview.table1, hide_index=True)
    st.caption("Side by side per distance, with what made each class near:")
    st.dataframe(preview.side_by_side, hide_index=True, key="add-side-by-side")
    columns = st.columns(len(preview.nearest))
    for column, (distance, frame) in zip(columns, preview.nearest.items(), strict=True):
        plain.plotly_chart(
            make_nearest_figure(frame, distance=distance),
            where=column,
            key=f"add-nearest-{distance}",
        )


def _render_added_classes(con, donors, model: ModelSpec) -> None:
    added = added_db.list_added_classes(con)
    if added.is_empty():
        st.text("None yet: synthesize a class above.")
        return
    st.dataframe(added, hide_index=True)
    names = dict(zip(added["wnid"], added["name"], strict=True))
    wnids = added["wnid"].to_list()[::-1]  # newest first: a fresh draft is selected
    if st.session_state.get("add-class") not in wnids:
        st.session_state.pop("add-class", None)
    seen = st.session_state.get("add-class-newest")
    if seen is not None and seen != wnids[0]:  # a synthesis finished since: show its draft
        st.session_state["add-class"] = wnids[0]
    st.session_state["add-class-newest"] = wnids[0]
    wnid = st.selectbox(
        "Class",
        wnids,
        format_func=lambda w: f"{names[w]} ({w})",
        key="add-class",
        bind="query-params",
    )
    draft = added_db.get_added_class(con, wnid)
    heads = added_db.list_synthesized_heads(con, wnid=wnid)
    st.text(f"{draft['name']} ({wnid}): {draft['status']}, added by {draft['created_by']}")
    st.dataframe(
        heads.select(
            "method_label",
            "row_norm",
            "bias",
            "is_primary",
            "calibration",
            "calibration_set_id",
            "sha256",
        ),
        hide_index=True,
    )
    _render_keep_or_discard(con, draft, heads)
    _render_photo_check(con, wnid, model)


def _render_keep_or_discard(con, draft: dict, heads: pl.DataFrame) -> None:
    wnid = draft["wnid"]
    busy = False
    keep_job = find_latest_job("keep-class", spec_filter={"wnid": wnid})
    if keep_job is not None:
        job = render_job_status(keep_job, key="add-keep-job")
        busy = job is not None and job["status"] in ("queued", "running")
    left, mid, right = st.columns([2, 1, 1])
    primary = left.selectbox("Row to export", heads["method_label"].to_list(), key="add-primary")
    if draft["status"] == "draft" and mid.button(
        "Keep this class", key="add-keep", type="primary", disabled=busy
    ):
        actor = require_actor()
        if actor is not None:
            start_job(KeepClassSpec(wnid, primary, actor))
            st.rerun()
    if right.button("Discard", key="add-discard", disabled=busy):
        try:
            n_files = discard_added_class(con, wnid, actor=get_actor())
        except ValueError as exc:
            plain.error(exc)
            return
        st.session_state[FLASH_KEY] = f"Discarded {wnid} ({n_files} row files removed)."
        st.rerun()


def _render_photo_check(con, wnid: str, model: ModelSpec) -> None:
    st.subheader("Try it on photos")
    files = st.file_uploader(
        "Photos (jpg, png, webp, bmp)",
        type=["jpg", "jpeg", "png", "bmp", "webp"],
        accept_multiple_files=True,
        key="add-photos",
        max_upload_size=64,  # MB, as extension.images.files.MAX_IMAGE_BYTES
    )
    if st.button("Check these photos (background job)", key="add-check", disabled=not files):
        folder = get_storage(con).photo_checks
        try:
            paths = save_check_photos([(f.name, f.getvalue()) for f in files], folder)
            spec = PhotoCheckSpec(wnid, tuple(str(p) for p in paths), model=model)
            start_job(spec)
        except ValueError as exc:
            plain.error(exc)
    job_id = find_latest_job("photo-check", spec_filter={"wnid": wnid})
    if job_id is None:
        return
    job = render_job_status(job_id, key="add-check-job")
    if job["status"] == "succeeded":
        _render_photo_results(job["result"])


def _render_photo_results(result: dict) -> None:
    for i, photo in enumerate(result["photos"]):
        left, right = st.columns([1, 4])
        if "error" in photo:
            right.text(photo["error"])
            continue
        left.image(photo["path"], width=140)
        ranks = {
            method: [f"{name} ({p:.1%})" for name, p in top] for method, top in photo["top"].items()
        }
        right.dataframe(
            pl.DataFrame({"rank": list(range(1, len(next(iter(ranks.values()))) + 1)), **ranks}),
            hide_index=True,
            key=f"add-photo-{i}",
        )
        new_rank = photo.get("new_rank") or {}
        if new_rank:
            right.text(
                "The new class: "
                + "; ".join(f"{m}: rank {r:,} ({p:.1%})" for m, (r, p) in new_rank.items())
            )


def _render_export(con, model: ModelSpec) -> None:
    kept = added_db.list_added_classes(con, status="kept")
    if kept.is_empty():
        st.text("Keep at least one class to export the base model with it.")
        return
    noun = "class" if kept.height == 1 else "classes"
    st.text(f"{kept.height} kept {noun}: " + ", ".join(kept["wnid"].to_list()))
    if st.button("Export the extended model (background job)", key="add-export"):
        # A new folder under the storage root's exports/ each time (the page takes no path).
        start_job(ExportSpec(model=model))
        st.rerun()
    job_id = find_latest_job("export-model")
    if job_id is None:
        return
    job = render_job_status(job_id, key="add-export-job")
    if job["status"] == "succeeded" and Path(job["result"]["zip"]).exists():
        info = job["result"]
        st.text(
            f"{info['architecture']}: {info['num_classes']} classes ({len(info['added'])} added), "
            f"folder {Path(info['path']).name} (in the storage root's exports folder)"
        )
        zip_path = Path(info["zip"])
        st.download_button(
            "Download the checkpoint (zip)",
            data=lambda: zip_path.read_bytes(),
            file_name="extended-model.zip",
            mime="application/zip",
            key="add-download",
            on_click="ignore",
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
            plain.error(exc)
            return
        st.dataframe(result["table1"], hide_index=True)
        for distance, frame in result["nearest"].items():
            st.text(f"Nearest by {distance} distance")
            st.dataframe(frame, hide_index=True)


render()
