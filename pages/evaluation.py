"""Evaluation: trained vs synthesized rows on real images, with what each number means.

Tabs: results of a run (the paper's Figure 2 with reference lines, ROC/PR, a table with
bootstrap intervals), saved runs side by side, few-shot curves, the WordNet-group view, new
runs (background jobs), and image sets (register a folder or list file, upload, embed).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from db import evaluation as eval_db
from db import image_sets as set_db
from db.connect import resolve_db_path
from extension.specs import PAPER_CLASSES, TINY_SUBSTITUTES, EmbedSpec, EvalSpec, FewShotSpec
from ui import eval_panels
from ui.resources import get_cursor, start_job
from ui.widgets import get_actor, render_job_status

PROTOCOL_HELP = (
    "Per class: up to N images of the class and N of other classes, drawn with the seed. Heads: "
    "the "
    "trained row, and each synthesis method's row built leave-one-out (from the other classes "
    "only; "
    "an added class uses its stored row). References: random ranking (AUROC 0.5, F1 0.5 balanced) "
    "and predicting everything positive (F1 = 2p/(1+p), 0.667 balanced): an F1 near 0.667 means "
    "nothing."
)


def render() -> None:
    st.title("Evaluation")
    st.caption(PROTOCOL_HELP)
    con = get_cursor()
    runs = eval_db.list_eval_runs(con, kind="protocol")
    fewshot_runs = eval_db.list_eval_runs(con, kind="fewshot")
    tabs = st.tabs(["Results", "Compare runs", "Few-shot", "Hierarchy", "New run", "Image sets"])
    with tabs[0]:
        _render_results(con, runs)
    with tabs[1]:
        _render_if(runs, "No saved runs yet.", eval_panels.render_comparison, con)
    with tabs[2]:
        _render_if(
            fewshot_runs,
            "No few-shot runs yet: start one under New run.",
            eval_panels.render_fewshot,
            con,
        )
    with tabs[3]:
        _render_if(runs, "No saved runs yet.", eval_panels.render_hierarchy, con)
    with tabs[4]:
        _render_new_run(con)
    with tabs[5]:
        _render_image_sets(con)


def _render_if(runs, message: str, panel, con) -> None:
    if runs.is_empty():
        st.info(message)
    else:
        panel(con, runs)


def _render_results(con, runs) -> None:
    if runs.is_empty():
        st.info(
            "No evaluation runs yet. Register an image set and start a run under New run, or run "
            "`workbench evaluate --images DIR` (with the app stopped)."
        )
        return
    set_names = ["(all sets)", *runs["set_name"].unique(maintain_order=True).to_list()]
    chosen_set = st.selectbox("Image set", set_names, key="res-set")
    shown = runs if chosen_set == "(all sets)" else runs.filter(runs["set_name"] == chosen_set)
    labels = {r: f"run {r}: {n}" for r, n in shown.select("run_id", "name").iter_rows()}
    run_id = st.selectbox("Run", shown["run_id"].to_list(), format_func=labels.get, key="res-run")
    run = eval_db.get_eval_run(con, int(run_id))
    with st.expander("Spec of this run (JSON)"):
        st.json(run["spec"])
    eval_panels.render_run_results(con, run)


def _render_new_run(con) -> None:
    sets = set_db.list_image_sets(con).unique("set_id", maintain_order=True)
    if sets.is_empty():
        st.info("Register an image set first (Image sets tab).")
        return
    names = dict(sets.select("set_id", "name").iter_rows())
    set_id = st.selectbox("Image set", list(names), format_func=names.get, key="new-set")
    present = set_db.list_image_set_classes(con, int(set_id))
    options = present["wnid"].to_list()
    defaults = [TINY_SUBSTITUTES.get(w, w) for w in PAPER_CLASSES]
    classes = st.multiselect(
        "Classes",
        options,
        default=[w for w in defaults if w in options] or options[:4],
        format_func=dict(present.select("wnid", "name").iter_rows()).get,
        key="new-classes",
    )
    from extension.synthesis.methods import list_methods

    methods = st.multiselect(
        "Synthesis methods (beside the trained row)",
        list_methods(),
        default=["paper-cosine", "paper-euclidean"],
        key="new-methods",
    )
    left, mid, right = st.columns(3)
    n = left.number_input("N positives and negatives", 1, 100_000, 1000, key="new-n")
    seed = mid.number_input("Seed", 0, 2**31 - 1, 0, key="new-seed")
    n_boot = right.number_input("Bootstrap replicates", 0, 10_000, 1000, key="new-boot")
    negatives = st.multiselect(
        "Extra negative-only sets (new-class evaluation)",
        [s for s in names if s != set_id],
        format_func=names.get,
        key="new-neg",
    )
    if st.button("Run the protocol", type="primary", key="new-start", disabled=not classes):
        _start("evaluate", lambda: _eval_spec(set_id, classes, methods, n, seed, n_boot, negatives))
    shots = st.multiselect(
        "Few-shot k", [1, 2, 5, 10, 25, 50], default=[1, 5, 10, 25], key="fs-shots"
    )
    if st.button("Run the few-shot baseline", key="fs-start", disabled=not classes or not shots):
        _start("fewshot", lambda: _fewshot_spec(set_id, classes, methods, shots, n, seed))
    if "eval_job" in st.session_state:
        render_job_status(st.session_state["eval_job"], key="eval-job")


def _eval_spec(set_id, classes, methods, n, seed, n_boot, negatives) -> dict:
    from extension.evaluation.heads import resolve_methods

    return EvalSpec(
        int(set_id),
        classes=tuple(classes),
        methods=resolve_methods(methods),
        n=int(n),
        seed=int(seed),
        n_bootstrap=int(n_boot),
        negative_sets=tuple(int(s) for s in negatives),
    ).to_dict()


def _fewshot_spec(set_id, classes, methods, shots, n, seed) -> dict:
    from extension.evaluation.heads import resolve_methods

    return FewShotSpec(
        int(set_id),
        classes=tuple(classes),
        shots=tuple(sorted(shots)),
        init_methods=resolve_methods(methods[:2]),
        n=int(n),
        seed=int(seed),
    ).to_dict()


def _start(kind: str, make_spec) -> None:
    try:
        st.session_state["eval_job"] = start_job(kind, make_spec())
    except ValueError as exc:
        st.error(str(exc))


def _render_image_sets(con) -> None:
    sets = set_db.list_image_sets(con)
    if sets.is_empty():
        st.info("No image sets yet.")
    else:
        st.dataframe(sets, hide_index=True)
        ids = sets["set_id"].unique(maintain_order=True).to_list()
        names = dict(sets.select("set_id", "name").iter_rows())
        chosen = st.selectbox("Set", ids, format_func=names.get, key="sets-chosen")
        if st.button("Embed with the base model (background job)", key="sets-embed"):
            _start("embed-image-set", lambda: EmbedSpec(int(chosen)).to_dict())
        errors = set_db.list_image_errors(con, int(chosen))
        if errors.height:
            st.warning(f"{errors.height} images could not be read and are skipped:")
            st.dataframe(errors, hide_index=True)
    from extension.images.uploads import SAMPLE_PHOTOS_NOTE, write_sample_photo_folder

    if st.button("Register the sample photos", key="sets-samples", help=SAMPLE_PHOTOS_NOTE):
        folder = write_sample_photo_folder(resolve_db_path().resolve().parent / "sample-photos")
        _register(con, folder, "sample-photos", "folder")
    st.caption(f"Sample photos: {SAMPLE_PHOTOS_NOTE}")
    with st.form("register-folder"):
        st.text("Register a folder (<wnid>/*.jpg) or a list file (path<TAB>wnid per line)")
        source = st.text_input("Folder or list file on this machine", key="reg-source")
        name = st.text_input("Name (default: the folder name)", key="reg-name")
        if st.form_submit_button("Register"):
            _register(
                con, Path(source), name or None, "list" if Path(source).is_file() else "folder"
            )
    with st.form("upload"):
        st.text("Or upload photos of one class (e.g. a new class such as warship)")
        files = st.file_uploader(
            "Images", accept_multiple_files=True, type=["jpg", "jpeg", "png", "bmp", "webp"]
        )
        class_id = st.text_input("Class id (wnid or custom id)", key="up-class")
        set_name = st.text_input("Set name", key="up-name")
        if st.form_submit_button("Upload and register") and set_name:
            from extension.images.uploads import save_uploaded_set

            try:
                set_id = save_uploaded_set(
                    con,
                    [(f.name, f.getvalue()) for f in files or []],
                    uploads_dir=resolve_db_path().resolve().parent / "uploads",
                    set_name=set_name,
                    class_id=class_id,
                    created_by=get_actor(),
                )
            except (ValueError, FileNotFoundError) as exc:
                st.error(str(exc))
            else:
                st.success(f"Registered set {set_id}.")
    if "eval_job" in st.session_state:
        render_job_status(st.session_state["eval_job"], key="sets-job")


def _register(con, source: Path, name: str | None, kind: str) -> None:
    from extension.images.sets import register_image_set

    try:
        set_id = register_image_set(con, source, name=name, kind=kind, created_by=get_actor())
    except (ValueError, FileNotFoundError) as exc:
        st.error(str(exc))
    else:
        st.success(
            f"Registered set {set_id}. Embed it (button above) or start a run: it is embedded on "
            "demand."
        )


render()
