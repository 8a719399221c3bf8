"""Evaluation: trained vs synthesized rows on real images, with what each number means.

Tabs (the open one is in the URL, `?tab=`): results of a run (the paper's Figure 2 with
reference lines, ROC/PR, a table with bootstrap intervals, or the pooled AUROC of a set too
small for per-class figures), saved runs side by side, few-shot curves, the WordNet-group
view, new runs (background jobs, with what the chosen set can support said first), and image
sets (register a folder, a list file, an upload or the sample photos; embed). Every job is
read back from the database and reruns the page when it finishes.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from db import evaluation as eval_db
from db import image_sets as set_db
from db.storage import get_storage
from extension.evaluation.support import compute_class_support, compute_fewshot_support
from extension.specs import PAPER_CLASSES, TINY_SUBSTITUTES, EmbedSpec, EvalSpec, FewShotSpec
from scale.specs import EngineSpec
from ui import eval_panels, plain
from ui.resources import get_cursor, start_job
from ui.widgets import NAME_FIRST, find_latest_job, get_actor, render_job_status

TABS = ["Results", "Compare runs", "Few-shot", "Hierarchy", "New run", "Image sets"]
FLASH_KEY = "eval-flash"
START_ERROR_KEY = "eval-start-error"  # why the last Run click queued nothing
ALL_CLASSES, SOME_CLASSES = "all", "Choose classes"
PROTOCOL_HELP = (
    "Per class: up to N images of the class and N of other classes, drawn with the seed. Heads: "
    "the trained row, and each synthesis method's row built leave-one-out (from the other "
    "classes only; an added class uses its stored row). References: random ranking (AUROC 0.5, "
    "F1 0.5 balanced) and predicting everything positive (F1 = 2p/(1+p), 0.667 balanced): an F1 "
    "near 0.667 means nothing."
)


def render() -> None:
    st.title("Evaluation")
    st.caption(PROTOCOL_HELP)
    con = get_cursor()
    runs = eval_db.list_eval_runs(con, kind="protocol")
    fewshot_runs = eval_db.list_eval_runs(con, kind="fewshot")
    tabs = st.tabs(TABS, key="tab", bind="query-params")
    panels = [
        lambda: _render_results(con, runs),
        lambda: _render_if(runs, "No saved runs yet.", eval_panels.render_comparison, con),
        lambda: _render_if(
            fewshot_runs,
            "No few-shot runs yet: start one under New run.",
            eval_panels.render_fewshot,
            con,
        ),
        lambda: _render_if(runs, "No saved runs yet.", eval_panels.render_hierarchy, con),
        lambda: _render_new_run(con),
        lambda: _render_image_sets(con),
    ]
    for tab, panel in zip(tabs, panels, strict=True):
        if tab.open:
            with tab:
                panel()


def _render_if(runs, message: str, panel, con) -> None:
    if runs.is_empty():
        st.info(message)
    else:
        panel(con, runs)


def _render_results(con, runs) -> None:
    job_id = find_latest_job("evaluate")
    if job_id is not None:
        render_job_status(job_id, key="res-job")
    if runs.is_empty():
        st.info(
            "No evaluation runs yet. Register an image set and start a run under New run, or run "
            "`workbench evaluate --images DIR` (beside the open app, it runs in the app)."
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
    labels = set_db.list_image_set_items(con, int(set_id))["wnid"].to_numpy()
    class_names = dict(present.select("wnid", "name").iter_rows())
    options = present["wnid"].to_list()
    classes = _render_class_choice(con, options, class_names)
    _render_support(labels, classes, class_names)
    from extension.synthesis.methods import list_methods

    st.multiselect(
        "Synthesis methods (beside the trained row)",
        list_methods(),
        default=_default_methods(con, classes),
        key="new-methods",
    )
    left, mid, right = st.columns(3)
    left.number_input("N positives and negatives", 1, 100_000, 1000, key="new-n")
    mid.number_input("Seed", 0, 2**31 - 1, 0, key="new-seed")
    right.number_input("Bootstrap replicates", 0, 10_000, 1000, key="new-boot")
    st.multiselect(
        "Extra negative-only sets (new-class evaluation)",
        [s for s in names if s != set_id],
        format_func=names.get,
        key="new-neg",
    )
    st.button(
        "Run the protocol",
        type="primary",
        key="new-start",
        disabled=not classes,
        on_click=_start_from_form,
        args=("evaluate", options),
    )
    _render_fewshot_start(labels, classes, options)
    error = st.session_state.pop(START_ERROR_KEY, None)
    if error:
        plain.error(error)
    for kind, key in (("evaluate", "new-job"), ("fewshot", "fs-job")):
        job_id = find_latest_job(kind)
        if job_id is not None:
            render_job_status(job_id, key=key)


def _render_class_choice(con, options: list[str], names: dict) -> list[str]:
    """Every class of the set by default (a set of 500 classes is not picked one by one);
    the multiselect only when the curator narrows to a subset."""
    scope = st.radio(
        "Classes",
        [ALL_CLASSES, SOME_CLASSES],
        format_func=lambda s: f"All classes of the set ({len(options)})" if s == ALL_CLASSES else s,
        horizontal=True,
        key="new-scope",
    )
    if scope == ALL_CLASSES:
        return options
    paper = [TINY_SUBSTITUTES.get(w, w) for w in PAPER_CLASSES]
    return st.multiselect(
        "Classes to evaluate",
        options,
        default=_default_classes(con, options, paper),
        format_func=lambda w: f"{names.get(w, w)} ({w})",
        key="new-classes",
    )


def _chosen_classes(form, options: list[str]) -> list[str]:
    """The classes of the New run form at a click: all of the set's, or the chosen subset."""
    if form.get("new-scope", ALL_CLASSES) == ALL_CLASSES:
        return list(options)
    return list(form.get("new-classes") or [])


def _default_classes(con, options: list[str], paper: list[str]) -> list[str]:
    """The paper's classes when the set has them, else a kept added class, else the first 4."""
    from db.added_classes import list_added_classes

    kept = [w for w in list_added_classes(con, status="kept")["wnid"] if w in options]
    return [w for w in paper if w in options] or kept[-1:] or options[:4]


def _default_methods(con, classes: list[str]) -> list[str]:
    """The paper's two rules, plus the kept row's method of each chosen added class."""
    from db.added_classes import list_synthesized_heads

    heads = list_synthesized_heads(con).filter("is_primary")
    kept = [r["method_label"] for r in heads.iter_rows(named=True) if r["wnid"] in classes]
    return list(dict.fromkeys(["paper-cosine", "paper-euclidean", *kept]))


def _render_support(labels, classes: list[str], names: dict) -> None:
    """Say, before a run, what the set can support for each chosen class."""
    if not classes:
        return
    support = compute_class_support(labels, classes)
    st.dataframe(
        support.with_columns(
            support["wnid"].replace_strict(names, default=None).alias("name")
        ).select("name", "wnid", "n_images", "n_others", "support"),
        hide_index=True,
        key="new-support",
    )
    for kind, reason in support.select("support", "reason").unique(maintain_order=True).rows():
        if kind != "per-class":
            st.info(f"{kind}: {plain.escape_markdown(reason)}.")


def _render_fewshot_start(labels, classes: list[str], options: list[str]) -> None:
    shots = st.multiselect(
        "Few-shot k", [1, 2, 5, 10, 25, 50], default=[1, 5, 10, 25], key="fs-shots"
    )
    reason = compute_fewshot_support(labels, classes, shots)
    if reason:
        st.caption(f"Few-shot baseline unavailable: {plain.escape_markdown(reason)}")
    st.button(
        "Run the few-shot baseline",
        key="fs-start",
        disabled=reason is not None,
        on_click=_start_from_form,
        args=("fewshot", options),
    )


def _eval_spec(set_id, classes, methods, n, seed, n_boot, negatives) -> EvalSpec:
    from extension.evaluation.heads import resolve_methods

    return EvalSpec(
        int(set_id),
        classes=tuple(classes),
        methods=resolve_methods(methods),
        n=int(n),
        seed=int(seed),
        n_bootstrap=int(n_boot),
        negative_sets=tuple(int(s) for s in negatives),
    )


def _fewshot_spec(set_id, classes, methods, shots, n, seed) -> FewShotSpec:
    from extension.evaluation.heads import resolve_methods

    return FewShotSpec(
        int(set_id),
        classes=tuple(classes),
        shots=tuple(sorted(shots)),
        init_methods=resolve_methods(methods[:2]),
        n=int(n),
        seed=int(seed),
    )


def _start_from_form(kind: str, options: list[str]) -> None:
    """Button callback: queue 'evaluate' or 'fewshot' with the New run tab's values as they
    are at the click (`options`: the chosen set's classes). A callback runs before the next
    script run, so the click is never lost to a rerun that another click starts at once (a
    tab switch right after "Run")."""
    form = st.session_state
    common = (form["new-set"], _chosen_classes(form, options), form["new-methods"])
    try:
        if kind == "evaluate":
            spec = _eval_spec(
                *common,
                form["new-n"],
                form["new-seed"],
                form["new-boot"],
                form.get("new-neg", []),
            )
        else:
            spec = _fewshot_spec(*common, form["fs-shots"], form["new-n"], form["new-seed"])
        start_job(spec)
    except ValueError as exc:
        form[START_ERROR_KEY] = str(exc)


def _start(make_spec) -> None:
    try:
        start_job(make_spec())
    except ValueError as exc:
        plain.error(exc)
        return
    st.rerun()


def _render_image_sets(con) -> None:
    sets = set_db.list_image_sets(con)
    if sets.is_empty():
        st.info("No image sets yet: register one below (or the sample photos).")
    else:
        st.dataframe(sets, hide_index=True, key="sets-table")
        ids = sets["set_id"].unique(maintain_order=True).to_list()
        names = dict(sets.select("set_id", "name").iter_rows())
        chosen = st.selectbox("Set", ids, format_func=names.get, key="sets-chosen")
        engine = _render_engine_choice()
        if st.button("Embed with the base model (background job)", key="sets-embed"):
            _start(lambda: EmbedSpec(int(chosen), engine=EngineSpec(**engine)))
        job_id = find_latest_job("embed-image-set", spec_filter={"image_set_id": int(chosen)})
        if job_id is not None:
            render_job_status(job_id, key="sets-job")
        errors = set_db.list_image_errors(con, int(chosen))
        if errors.height:
            st.warning(f"{errors.height} images could not be read and are skipped:")
            st.dataframe(errors, hide_index=True)
    _render_registration()


def _render_engine_choice() -> dict:
    """The `EngineSpec` fields of the engine (local, or a Ray cluster) chosen in an expander
    (checked when the spec is made, so a bad address is the job button's one-line error)."""
    from scale.cluster import ray_available
    from scale.specs import ENGINES, ActorPoolSpec

    with st.expander("Engine: this process, or a Ray cluster"):
        if not ray_available():
            st.text("Ray is not installed here (pip install '.[scale]'); embedding runs locally.")
            return {}
        if st.radio("Engine", ENGINES, horizontal=True, key="sets-engine") == "local":
            return {}
        address = st.text_input(
            "Ray address (empty: start a local instance; HOST:6379 for a cluster)",
            key="sets-ray-address",
        )
        actors = st.number_input("Model actors", 1, 1024, 1, key="sets-ray-actors")
        st.caption("The feature cache must be a folder every node can read (see the README).")
    return {"name": "ray", "address": address.strip(), "pool": ActorPoolSpec(actors=int(actors))}


def _render_registration() -> None:
    from extension.images.uploads import SAMPLE_PHOTOS_NOTE

    st.button(
        "Register the sample photos",
        key="sets-samples",
        help=SAMPLE_PHOTOS_NOTE,
        on_click=_register_samples,
    )
    _render_flash("samples")
    st.caption(f"Sample photos: {SAMPLE_PHOTOS_NOTE}")
    with st.form("register-folder"):
        st.text("Register a folder (<wnid>/*.jpg) or a list file (path<TAB>wnid per line)")
        st.text_input("Folder or list file on this machine", key="reg-source")
        st.text_input("Name (default: the folder name)", key="reg-name")
        st.form_submit_button("Register", on_click=_register_path)
    _render_flash("path")
    with st.form("upload", clear_on_submit=True):
        st.text("Or upload photos of one class (e.g. a new class such as warship)")
        st.file_uploader(
            "Images",
            accept_multiple_files=True,
            type=["jpg", "jpeg", "png", "bmp", "webp"],
            key="up-files",
            max_upload_size=64,  # MB, as extension.images.files.MAX_IMAGE_BYTES
        )
        st.text_input("Class id (wnid or custom id)", key="up-class")
        st.text_input("Set name", key="up-name")
        st.form_submit_button("Upload and register", on_click=_register_upload)
    _render_flash("upload")


def _flash(where: str, kind: str, message: str) -> None:
    """Say `message` on the next run under the button `where` ('samples', 'path', 'upload')
    that was clicked, not at the top of the page, out of sight."""
    st.session_state[FLASH_KEY] = (where, kind, message)


def _render_flash(where: str) -> None:
    at, kind, message = st.session_state.get(FLASH_KEY, (None, None, None))
    if at == where:
        del st.session_state[FLASH_KEY]
        getattr(plain, kind)(message)


def _register_samples() -> None:
    from extension.images.uploads import write_sample_photo_folder

    folder = write_sample_photo_folder(get_storage(get_cursor()).sample_photos)
    _register(folder, "sample-photos", "folder", where="samples")


def _register_path() -> None:
    source = Path(st.session_state.get("reg-source", "").strip())
    name = st.session_state.get("reg-name", "").strip() or None
    _register(source, name, "list" if source.is_file() else "folder", where="path")


def _register(source: Path, name: str | None, kind: str, *, where: str) -> None:
    """Callback: register before the page is drawn, so every tab shows the new set."""
    from extension.images.sets import register_image_set

    actor = get_actor()
    if actor is None:
        _flash(where, "warning", NAME_FIRST)
        return
    try:
        set_id = register_image_set(get_cursor(), source, name=name, kind=kind, created_by=actor)
    except (ValueError, FileNotFoundError) as exc:
        _flash(where, "error", str(exc))
        return
    _flash(where, "success", f"Registered set {set_id} ({name or source.name}).")


def _register_upload() -> None:
    from extension.images.uploads import save_uploaded_set

    actor = get_actor()
    if actor is None:
        _flash("upload", "warning", NAME_FIRST)
        return
    files = st.session_state.get("up-files") or []
    try:
        set_id = save_uploaded_set(
            get_cursor(),
            [(f.name, f.getvalue()) for f in files],
            uploads_dir=get_storage(get_cursor()).uploads,
            set_name=st.session_state.get("up-name", ""),
            class_id=st.session_state.get("up-class", ""),
            created_by=actor,
        )
    except (ValueError, FileNotFoundError) as exc:
        _flash("upload", "error", str(exc))
        return
    _flash("upload", "success", f"Registered set {set_id}.")


render()
